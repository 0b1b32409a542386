import type { Command } from 'commander';
import { register as backup } from './backup.js';
import { register as config } from './config.js';
import { register as serve } from './serve.js';
import { register as token } from './token.js';
import { register as walFetch } from './wal-fetch.js';
import { register as restore } from './restore.js';
import { register as verify } from './verify.js';
import { register as wal } from './wal.js';
import { register as demo } from './demo.js';
import { register as info } from './info.js';
import { register as expire } from './expire.js';
import { register as check } from './check.js';
import { register as repo } from './repo.js';
import { register as drill } from './drill.js';
import { register as events } from './events.js';

/**
 * Every CLI command, in the order `pitrd --help` lists them. To add one: create
 * ./<name>.ts exporting `register(program: Command): void`, import it here, append it.
 * Use ../context.js (loadCommandConfig, out) for the config and output.
 */
export const commandRegistrations: ReadonlyArray<(program: Command) => void> = [config, token, serve, backup, restore, walFetch, events, info, check, verify, expire, wal, repo, drill, demo];
