import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { cliJson, cliJsonError } from '../harness/index.js';

/**
 * Runs the real CLI entry point as a child process (through tsx, so the test does not depend on
 * a build of files other helpers are still editing).
 */
const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'pitrd-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY_HEX = 'a1'.repeat(32);

function pitrd(args: string[], env: Record<string, string> = {}) {
  // A clean PITRD_* environment: the developer's own variables must not leak into the test.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PITRD_')));
  return execa(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), ...args], {
    cwd: dir,
    env: { ...base, ...env },
    extendEnv: false,
    reject: false,
  });
}

describe('pitrd CLI', () => {
  it('--help lists the global options and commands', async () => {
    const r = await pitrd(['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('Usage: pitrd');
    expect(r.stdout).toContain('-c, --config <file>');
    expect(r.stdout).toContain('config');
  });

  it('--version prints the package version', async () => {
    const r = await pitrd(['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('config check --json prints the validated config with secrets redacted', async () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, 'databases:\n  - name: main\n    connection: { host: db1, password: pw-in-file }\n');
    const r = await pitrd(['-c', file, 'config', 'check', '--json'], { PITRD_ENCRYPTION_KEY: KEY_HEX, PITRD_DATABASES__MAIN__CONNECTION__PORT: '6000' });
    expect(r.exitCode).toBe(0);
    const body = cliJson(r.stdout) as { valid: boolean; config: { databases: { connection: { port: number; password: string } }[]; encryption: unknown } };
    expect(body.valid).toBe(true);
    expect(body.config.databases[0]!.connection).toMatchObject({ port: 6000, password: '[redacted]' });
    expect(body.config.encryption).toEqual({ enabled: true, key: '[redacted]' });
    expect(r.stdout + r.stderr).not.toContain(KEY_HEX);
    expect(r.stdout + r.stderr).not.toContain('pw-in-file');
  });

  it('config check (YAML) reads PITRD_CONFIG when -c is absent', async () => {
    const file = join(dir, 'env.yaml');
    writeFileSync(file, 'spool_dir: /var/tmp/spool-x\n');
    const r = await pitrd(['config', 'check'], { PITRD_CONFIG: file });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`# configuration is valid (${file})`);
    expect(r.stdout).toContain('spool_dir: /var/tmp/spool-x');
  });

  it('a bad config exits non-zero naming each offending key', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'databases:\n  - name: main\n    connection: { port: 5432 }\n  - name: two\n    connection: { port: abc }\n    pitr: { retension_days: 3 }\n');
    const r = await pitrd(['-c', file, 'config', 'check']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('CONFIG_INVALID');
    expect(r.stderr).toContain('databases[1].connection.port: expected a number from 1 to 65535, got "abc"');
    expect(r.stderr).toContain('databases[1].pitr.retension_days: unknown key');
    expect(r.stdout).toBe('');
  });

  it('with --json, a bad config is an error envelope: valid false and one problem per key (exit 3)', async () => {
    const file = join(dir, 'bad-json.yaml');
    writeFileSync(file, 'api:\n  listen: { port: seventy }\ndatabases:\n  - name: Main\n    connection: { port: 5432 }\n');
    const r = await pitrd(['-c', file, 'config', 'check', '--json']);
    expect(r.exitCode).toBe(3);
    const err = cliJsonError(r.stdout);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', valid: false });
    expect(err.problems).toEqual(
      expect.arrayContaining([expect.stringContaining('api.listen.port: expected a number from 1 to 65535, got "seventy"'), expect.stringContaining('databases[0].name')]),
    );
  });

  it('an unknown --log-level is a usage error naming the allowed levels, before the command runs', async () => {
    const r = await pitrd(['--log-level', 'loud', 'config', 'check', '--json']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"');
    expect(cliJsonError(r.stdout).code).toBe('VALIDATION_ERROR');
    const env = await pitrd(['config', 'check'], { PITRD_LOG_LEVEL: 'chatty' });
    expect(env.exitCode).toBe(2);
    expect(env.stderr).toContain('PITRD_LOG_LEVEL: expected one of');
  });

  it('an unknown option or command is a usage error (exit 2)', async () => {
    expect((await pitrd(['config', 'check', '--jsonn'])).exitCode).toBe(2);
    expect((await pitrd(['frobnicate'])).exitCode).toBe(2);
    expect((await pitrd(['--help'])).exitCode).toBe(0);
  });

  it('a missing config file exits 3 naming the path', async () => {
    const r = await pitrd(['-c', join(dir, 'nope.yaml'), 'config', 'check']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(`cannot read config file "${join(dir, 'nope.yaml')}" (ENOENT)`);
  });
});
