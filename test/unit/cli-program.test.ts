import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { commandRegistrations } from '../../src/cli/commands/index.js';

describe('CLI program', () => {
  it('registers every command module', () => {
    const program = buildProgram();
    expect(program.commands.length).toBeGreaterThanOrEqual(commandRegistrations.length);
    const config = program.commands.find((c) => c.name() === 'config');
    expect(config?.commands.map((c) => c.name())).toContain('check');
  });

  it('has the global -c/--config option', () => {
    const program = buildProgram();
    const opt = program.options.find((o) => o.long === '--config');
    expect(opt?.short).toBe('-c');
  });

  it('parses -c for a subcommand (seen through optsWithGlobals)', async () => {
    const program = buildProgram();
    let seen: string | undefined;
    program.command('probe').action(function (this: import('commander').Command) {
      seen = this.optsWithGlobals<{ config?: string }>().config;
    });
    await program.parseAsync(['node', 'pitrd', '-c', '/etc/x.yaml', 'probe']);
    expect(seen).toBe('/etc/x.yaml');
  });
});
