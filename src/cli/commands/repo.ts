import type { Command } from 'commander';
import { storageOptions } from '../../config/index.js';
import { legacyOwners } from '../../daemon/index.js';
import { upgradeRepository, type UpgradeReport } from '../../repository/index.js';
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

/** `pitrd repo upgrade`: bring the repository to this pitrd's format (see src/repository/upgrade.ts). */
export function register(program: Command): void {
  const repo = program.command('repo').description('repository maintenance');
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
