import type { Command } from 'commander';
import { FileTokenStore, TIERS, type Tier, type TokenRecord } from '../../auth/index.js';
import { PitrdError } from '../../errors.js';
import { loadCommandConfig } from '../context.js';
import { reporting } from '../report.js';

const PROJECT_ID_RE = /^proj_[a-z0-9]{1,32}$/;

interface FileOpt {
  tokensFile?: string;
}

/** --tokens-file, else the config's api.tokens_file. */
function storeFor(cmd: Command, opts: FileOpt): FileTokenStore {
  const path = opts.tokensFile ?? loadCommandConfig(cmd).api.tokens_file;
  if (path === undefined) {
    throw new PitrdError('CONFIG_INVALID', 'no tokens file: pass --tokens-file <path> or set api.tokens_file in the configuration', { context: { key: 'api.tokens_file' } });
  }
  return new FileTokenStore(path);
}

function describe(t: TokenRecord): Record<string, unknown> {
  // Never the hash: it is not a secret that unlocks anything, but nobody needs to see it.
  return { id: t.id, name: t.name, projects: t.projects, tier: t.tier, created_at: t.created_at, revoked_at: t.revoked_at ?? null };
}

/** `pitrd token create|list|revoke`: API tokens for the HTTP API, stored hashed. */
export function register(program: Command): void {
  const token = program.command('token').description('manage API tokens (stored as sha256 hashes in the tokens file)');
  const fileOption = ['--tokens-file <path>', 'tokens file (default: api.tokens_file from the configuration)'] as const;

  token
    .command('create')
    .description('create a token; it is printed once and cannot be shown again')
    .requiredOption('--project <id...>', 'project id(s) the token may use, or "*" for every project (and creating projects)')
    .option('--name <name>', 'a label to recognise the token by', '')
    .option('--tier <tier>', `rate-limit tier: ${TIERS.join(' or ')}`, 'free')
    .option(...fileOption)
    .option('--json', 'print JSON')
    .action(reporting(async function (this: Command, opts: FileOpt & { project: string[]; name: string; tier: string; json?: boolean }) {
      if (!(TIERS as readonly string[]).includes(opts.tier)) {
        throw new PitrdError('VALIDATION_ERROR', `--tier: expected ${TIERS.join(' or ')}, got "${opts.tier}"`);
      }
      const bad = opts.project.filter((p) => p !== '*' && !PROJECT_ID_RE.test(p));
      if (bad.length > 0) throw new PitrdError('VALIDATION_ERROR', `--project: ${bad.map((b) => JSON.stringify(b)).join(', ')} is not a project id (proj_...) or "*"`);
      const created = await storeFor(this, opts).create({ name: opts.name, projects: opts.project, tier: opts.tier as Tier });
      return {
        data: { ...describe(created.record), token: created.token },
        human: () =>
          [
            `created token ${created.record.id} (${created.record.tier}, projects: ${created.record.projects.join(', ')})`,
            `token: ${created.token}`,
            'store it now: only its hash is kept, it cannot be shown again',
          ].join('\n'),
      };
    }));

  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option(...fileOption)
    .option('--json', 'print JSON')
    .action(reporting(async function (this: Command, opts: FileOpt) {
      const tokens = (await storeFor(this, opts).list()).map(describe);
      return {
        data: tokens,
        human: () =>
          tokens.length === 0
            ? 'no tokens'
            : tokens.map((t) => `${t.id}\t${t.name || '-'}\t${t.tier}\t${(t.projects as string[]).join(',')}\t${t.created_at}\t${t.revoked_at ? `revoked ${t.revoked_at}` : 'active'}`).join('\n'),
      };
    }));

  token
    .command('revoke <id>')
    .description('revoke a token; a running daemon rejects it from the next request on')
    .option(...fileOption)
    .option('--json', 'print the revoked token (never its secret) as JSON')
    .action(reporting(async function (this: Command, id: string, opts: FileOpt) {
      const t = await storeFor(this, opts).revoke(id);
      return { data: describe(t), human: () => `revoked token ${t.id}${t.name ? ` (${t.name})` : ''}` };
    }));
}
