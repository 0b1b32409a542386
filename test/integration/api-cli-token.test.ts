import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/index.js';
import { cliJson } from '../harness/index.js';

/** `pitrd token ...` through the real CLI entry point (tsx), against a temp tokens file. */
const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'pitrd-cli-token-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'nested', 'tokens.json');

function pitrd(args: string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PITRD_')));
  return execa(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), ...args], {
    cwd: dir,
    env,
    extendEnv: false,
    reject: false,
  });
}

describe('pitrd token', () => {
  it('create, list, use, revoke', async () => {
    const created = await pitrd(['token', 'create', '--project', '*', '--name', 'ci', '--tier', 'pro', '--tokens-file', file, '--json']);
    expect(created.stderr).toBe('');
    expect(created.exitCode).toBe(0);
    const c = cliJson(created.stdout) as { id: string; token: string; tier: string; projects: string[] };
    expect(c.token).toMatch(/^pitrd_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(c).toMatchObject({ tier: 'pro', projects: ['*'] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const secret = c.token.split('_').slice(2).join('_');
    expect(readFileSync(file, 'utf8')).not.toContain(secret);

    const scoped = await pitrd(['token', 'create', '--project', 'proj_a', 'proj_b', '--tokens-file', file]);
    expect(scoped.exitCode).toBe(0);
    expect(scoped.stdout).toMatch(/token: pitrd_[0-9a-f]{12}_/);
    expect(scoped.stdout).toContain('(free, projects: proj_a, proj_b)');

    const store = new FileTokenStore(file);
    expect(await store.verify(c.token)).toMatchObject({ tokenId: c.id, tier: 'pro', projects: ['*'] });

    const list = await pitrd(['token', 'list', '--tokens-file', file, '--json']);
    expect(list.exitCode).toBe(0);
    const rows = cliJson(list.stdout) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ id: c.id, name: 'ci', revoked_at: null });
    expect(list.stdout).not.toContain(secret);
    expect(list.stdout).not.toContain('hash');

    const revoked = await pitrd(['token', 'revoke', c.id, '--tokens-file', file]);
    expect(revoked.exitCode).toBe(0);
    expect(revoked.stdout).toContain(`revoked token ${c.id} (ci)`);
    // The same store instance notices the file changed: revocation needs no daemon restart.
    expect(await store.verify(c.token)).toBeNull();
    const text = await pitrd(['token', 'list', '--tokens-file', file]);
    expect(text.stdout).toMatch(new RegExp(`^${c.id}\\tci\\tpro\\t\\*\\t\\S+\\trevoked `, 'm'));
  });

  it('errors carry codes and the exit status of their kind (1 failed, 2 usage, 3 configuration)', async () => {
    const unknown = await pitrd(['token', 'revoke', 'ffffffffffff', '--tokens-file', file]);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('pitrd: NOT_FOUND: no API token with id ffffffffffff');
    const tier = await pitrd(['token', 'create', '--project', '*', '--tier', 'gold', '--tokens-file', file]);
    expect(tier.exitCode).toBe(2);
    expect(tier.stderr).toContain('VALIDATION_ERROR: --tier');
    const badProject = await pitrd(['token', 'create', '--project', 'myapp', '--tokens-file', file]);
    expect(badProject.exitCode).toBe(2);
    expect(badProject.stderr).toContain('VALIDATION_ERROR: --project: "myapp" is not a project id');
    const noFile = await pitrd(['token', 'list']);
    expect(noFile.exitCode).toBe(3);
    expect(noFile.stderr).toContain('CONFIG_INVALID: no tokens file');
  });
});
