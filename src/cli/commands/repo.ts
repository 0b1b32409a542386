import type { Command } from 'commander';
import { storageOptions } from '../../config/index.js';
import { legacyOwners } from '../../daemon/index.js';
import { isPitrdError } from '../../errors.js';
import { upgradeRepository } from '../../repository/index.js';
import { createObjectStore } from '../../storage/index.js';
import { loadCommandConfig, out } from '../context.js';

/** `pitrd repo upgrade`: bring the repository to this pitrd's format (see src/repository/upgrade.ts). */
export function register(program: Command): void {
  const repo = program.command('repo').description('repository maintenance');
  repo
    .command('upgrade')
    .description('upgrade the repository to this version\'s format (stop every daemon using it first); safe to run again after an interruption')
    .option('--json', 'print the report as JSON')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const config = loadCommandConfig(this);
      const store = createObjectStore(storageOptions(config));
      try {
        const ownerOf = await legacyOwners(config, store);
        const r = await upgradeRepository(store, { ownerOf, ...(config.encryption.key ? { key: config.encryption.key } : {}) });
        if (opts.json) out(JSON.stringify(r, null, 2));
        else if (!r.upgraded) out(`repository ${store.location} is already at format ${r.to}; nothing to do`);
        else {
          out(`repository ${store.location} upgraded from format ${r.from} to ${r.to}${r.resumed ? ' (an interrupted upgrade finished)' : ''}: ${r.objects_moved} object(s) moved`);
          for (const [name, project] of Object.entries(r.owners)) out(`  database ${name} -> project ${project}`);
        }
      } catch (err) {
        process.stderr.write(`pitrd repo upgrade: ${isPitrdError(err) ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 2;
      } finally {
        await store.close();
      }
    });
}
