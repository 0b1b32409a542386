import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { freePort, cliJson } from '../harness/index.js';

/**
 * docker/entrypoint.sh, run directly with /bin/sh (Docker is not available here). A `pitrd` shim
 * first in PATH runs the real CLI from src/ through tsx, in the same process (exec), so what the
 * entrypoint sees is exactly what the image's /usr/local/bin/pitrd does.
 */
const root = join(import.meta.dirname, '..', '..');
const entrypoint = join(root, 'docker', 'entrypoint.sh');
const dir = mkdtempSync(join(tmpdir(), 'pitrd-entrypoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bin = join(dir, 'bin');
mkdirSync(bin);
writeFileSync(
  join(bin, 'pitrd'),
  `#!/bin/sh\nexec "${process.execPath}" --import "${import.meta.resolve('tsx')}" "${join(root, 'src/cli/main.ts')}" "$@"\n`,
);
chmodSync(join(bin, 'pitrd'), 0o755);

const goodConfig = join(dir, 'good.yaml');
writeFileSync(goodConfig, `storage: { type: fs, path: ${join(dir, 'repo')} }\nspool_dir: ${join(dir, 'spool')}\n`);
const badConfig = join(dir, 'bad.yaml');
writeFileSync(badConfig, `storage: { type: fs, path: ${join(dir, 'repo')} }\napi: { listen: { port: seventy } }\n`);
const tokensFile = join(dir, 'tokens.json');

function run(args: string[], env: Record<string, string> = {}) {
  // Only what the container would have: no PITRD_* from the developer's shell.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PITRD_')));
  return execa('/bin/sh', [entrypoint, ...args], {
    cwd: dir,
    env: { ...base, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, PITRD_DEFAULT_CONFIG: join(dir, 'absent.yaml'), ...env },
    extendEnv: false,
    reject: false,
  });
}

describe('docker/entrypoint.sh', () => {
  it("knows exactly pitrd's commands (PITRD_COMMANDS against the CLI's own list)", () => {
    const listed = /^PITRD_COMMANDS='([^']*)'$/m.exec(readFileSync(entrypoint, 'utf8'))?.[1]?.split(' ') ?? [];
    const real = buildProgram().commands.map((c) => c.name()).concat('help');
    expect([...listed].sort()).toEqual([...real].sort());
  });

  it('with a valid config, checks it and then runs the pitrd command given', async () => {
    const r = await run(['token', 'list', '--tokens-file', tokensFile], { PITRD_CONFIG: goodConfig });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('no tokens');
  });

  it('runs `config check` itself, and accepts a leading "pitrd"', async () => {
    const r = await run(['pitrd', 'config', 'check'], { PITRD_CONFIG: goodConfig });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`# configuration is valid (${goodConfig})`);
  });

  it('with an invalid config, exits non-zero naming the key and does not run the command', async () => {
    const r = await run(['token', 'list', '--tokens-file', tokensFile], { PITRD_CONFIG: badConfig });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('CONFIG_INVALID');
    expect(r.stderr).toContain('api.listen.port: expected a number from 1 to 65535, got "seventy"');
    expect(r.stderr).toContain('configuration check failed; not starting "pitrd token"');
  });

  it('checks the config before the default command (serve) too', async () => {
    const r = await run([], { PITRD_CONFIG: badConfig });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('api.listen.port');
    expect(r.stderr).toContain('not starting "pitrd serve"');
  });

  it('checks the file named with -c on the command line', async () => {
    const r = await run(['-c', badConfig, 'token', 'list', '--tokens-file', tokensFile]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('api.listen.port');
  });

  it('names a PITRD_CONFIG file that does not exist, before starting node', async () => {
    const missing = join(dir, 'nope.yaml');
    const r = await run(['token', 'list'], { PITRD_CONFIG: missing });
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain(`configuration file "${missing}" (from PITRD_CONFIG) does not exist`);
  });

  it('uses the image default config file when one is mounted there', async () => {
    const r = await run(['config', 'check', '--json'], { PITRD_DEFAULT_CONFIG: goodConfig });
    expect(r.exitCode).toBe(0);
    expect(cliJson(r.stdout)).toMatchObject({ valid: true, config: { source: goodConfig } });
  });

  it('without a config file, puts the repository and spool under PITRD_DATA_DIR and listens on all addresses', async () => {
    const data = join(dir, 'data');
    const r = await run(['config', 'check', '--json'], { PITRD_DATA_DIR: data });
    expect(r.exitCode).toBe(0);
    const cfg = (cliJson(r.stdout) as { config: Record<string, unknown> }).config;
    expect(cfg).toMatchObject({ storage: { type: 'fs', path: join(data, 'repository') }, spool_dir: join(data, 'spool'), api: { listen: { host: '0.0.0.0' } } });
  });

  it('a storage type from the environment is not overridden by the PITRD_DATA_DIR default', async () => {
    const r = await run(['config', 'check', '--json'], { PITRD_DATA_DIR: join(dir, 'data'), PITRD_STORAGE__TYPE: 's3', PITRD_STORAGE__BUCKET: 'b' });
    expect(r.exitCode).toBe(0);
    expect(cliJson(r.stdout)).toMatchObject({ config: { storage: { type: 's3', bucket: 'b' } } });
  });

  it('execs an arbitrary executable in place of the shell (same PID, no config check)', async () => {
    const child = run(['sh', '-c', 'echo $$'], { PITRD_CONFIG: badConfig });
    const r = await child;
    expect(r.exitCode).toBe(0);
    expect(Number(r.stdout)).toBe(child.pid);
  });

  it('finds executables that share a name with a shell builtin, and passes their exit status through', async () => {
    expect((await run(['echo', 'hello', 'world'])).stdout).toBe('hello world');
    expect((await run(['sh', '-c', 'exit 7'])).exitCode).toBe(7);
  });

  it('with no arguments execs `pitrd serve` in its own process, which SIGTERM stops gracefully', async () => {
    const port = await freePort();
    const file = join(dir, 'serve.yaml');
    writeFileSync(file, `storage: { type: fs, path: ${join(dir, 'serve-repo')} }\nspool_dir: ${join(dir, 'serve-spool')}\napi: { listen: { host: 127.0.0.1, port: ${port} } }\n`);
    const child = run([], { PITRD_CONFIG: file, PITRD_LOG_LEVEL: 'warn' });
    try {
      // Wait for the API (bounded by the test timeout, not by a guess at how fast it starts).
      let body: unknown;
      while (body === undefined && child.exitCode === null) {
        body = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.json(), () => undefined);
        if (body === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      expect(body).toMatchObject({ success: true, data: { name: 'pitrd', status: 'healthy' } });
      // The signal goes to the entrypoint's PID: it reaches pitrd only because the shell exec'd it.
      child.kill('SIGTERM');
      const r = await child;
      expect(r.exitCode).toBe(0);
      expect(r.signal).toBeUndefined();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
