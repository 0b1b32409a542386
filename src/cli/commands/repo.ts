import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { openExistingRepository } from '../../catalog/index.js';
import { storageOptions } from '../../config/index.js';
import { legacyOwners } from '../../service/index.js';
import { readObject, upgradeRepository, type UpgradeReport } from '../../repository/index.js';
import { createObjectStore } from '../../storage/index.js';
import { loadCommandConfig } from '../context.js';
import { reporting } from '../report.js';

function human(location: string, r: UpgradeReport): string {
  if (!r.upgraded) return `repository ${location} is already at format ${r.to}; nothing to do`;
  return [
    `repository ${location} upgraded from format ${r.from} to ${r.to}${r.resumed ? ' (an interrupted upgrade finished)' : ''}: ${r.objects_moved} object(s) moved`,
    ...Object.entries(r.owners).map(([name, project]) => `  database ${name} -> project ${project}`),
  ].join('\n');
}

/**
 * `pitrd repo ls | get | upgrade`: the repository by hand (docs/repository-format.md describes
 * every object). `get` decodes as pitrd reads (decrypt, decompress) and verifies the sha256 the
 * repository records for the object (backup data, WAL segments), so what it writes can be used
 * with tar and PostgreSQL alone.
 */
export function register(program: Command): void {
  const repo = program.command('repo').description('the repository by hand: list and read objects, upgrade the format');
  repo
    .command('ls [prefix]')
    .description('list the objects under a key prefix (default: everything): key, stored size, time')
    .option('--json', 'print JSON')
    .action(
      reporting(async function (this: Command, prefix: string | undefined) {
        const { store } = await openExistingRepository(loadCommandConfig(this));
        try {
          const objects: Array<{ key: string; size: number; last_modified: string }> = [];
          for await (const o of store.listAll(prefix ?? '')) objects.push({ key: o.key, size: o.size, last_modified: o.lastModified.toISOString() });
          return { data: { objects }, human: () => objects.map((o) => `${o.last_modified}  ${String(o.size).padStart(12)}  ${o.key}`).join('\n') || `no objects under "${prefix ?? ''}"` };
        } finally {
          await store.close();
        }
      }),
    );
  repo
    .command('get <key>')
    .description('write one object decrypted, decompressed and verified against its recorded sha256, to stdout or --output')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async function (this: Command, key: string, o: { output?: string }) {
      // No --json: the object's bytes are the output. Errors follow the common contract.
      await reporting(async function (this: Command) {
        const { repo: r, store } = await openExistingRepository(loadCommandConfig(this));
        try {
          const { stream, sha256 } = await readObject(r, key);
          await pipeline(stream, o.output !== undefined ? createWriteStream(o.output, { mode: 0o600 }) : process.stdout);
          if (o.output !== undefined) process.stderr.write(`${key}: written to ${o.output}${sha256 ? `, sha256 ${sha256} verified` : ''}\n`);
        } finally {
          await store.close();
        }
      }).call(this);
    });
  repo
    .command('upgrade')
    .description("upgrade the repository to this version's format (stop every daemon using it first); run it again to finish an interrupted upgrade")
    .option('--json', 'print the report as JSON')
    .action(
      reporting(async function (this: Command) {
        const config = loadCommandConfig(this);
        const store = createObjectStore(storageOptions(config));
        try {
          const ownerOf = await legacyOwners(config, store);
          const r = await upgradeRepository(store, { ownerOf, ...(config.encryption.key ? { key: config.encryption.key } : {}) });
          return { data: r, human: () => human(store.location, r) };
        } finally {
          await store.close();
        }
      }),
    );
}
