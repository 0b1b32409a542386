/**
 * The settings every PostgreSQL server pitrd starts (restores, branches, a branch started again)
 * runs with, whatever the restored configuration says. Pure.
 *
 * A base backup carries the SOURCE's postgresql.conf and postgresql.auto.conf, and whoever owns
 * the source can put anything there (ALTER SYSTEM, or the files themselves). Started as is, a
 * restore would run the source's commands and load its libraries on the pitrd host. These values
 * are given on the postmaster's command line: PostgreSQL ranks command-line settings above every
 * configuration file (include chains and later reloads included), so no parsing or rewriting of
 * the source's files is needed and nothing the source wrote can win. The recovery settings, which
 * carry user strings, stay in postgresql.auto.conf (see target.ts).
 */

interface ServerSetting {
  name: string;
  value: string;
  /** First PostgreSQL major version that has the setting (an unknown name stops the server). */
  since?: number;
  until?: number;
}

/** Settings that run a command, load code, or read or write files outside the data directory. */
const NEUTRALISED: readonly ServerSetting[] = [
  // Commands. restore_command is pitrd's own (postgresql.auto.conf, written last).
  { name: 'archive_mode', value: 'off' },
  { name: 'archive_command', value: '' },
  { name: 'archive_library', value: '', since: 15 },
  { name: 'recovery_end_command', value: '' },
  { name: 'archive_cleanup_command', value: '' },
  { name: 'ssl_passphrase_command', value: '' },
  // Code: libraries loaded at start, at each connection, by JIT, from a path of the source's choice.
  { name: 'shared_preload_libraries', value: '' },
  { name: 'session_preload_libraries', value: '' },
  { name: 'local_preload_libraries', value: '' },
  { name: 'dynamic_library_path', value: '$libdir' },
  { name: 'jit', value: 'off' },
  { name: 'jit_provider', value: 'llvmjit' },
  // Files: no TLS key or certificate, Kerberos keytab, PID copy, log file or directory elsewhere.
  { name: 'ssl', value: 'off' },
  { name: 'krb_server_keyfile', value: '' },
  { name: 'external_pid_file', value: '' },
  { name: 'logging_collector', value: 'off' },
  { name: 'log_destination', value: 'stderr' },
  // Replication: a restore neither streams from nor waits for anyone.
  { name: 'primary_conninfo', value: '' },
  { name: 'primary_slot_name', value: '' },
  { name: 'promote_trigger_file', value: '', until: 15 },
  { name: 'recovery_min_apply_delay', value: '0' },
  // What pitrd itself relies on: queries during recovery, and the English LOG lines that prove
  // the target was reached (a source's lc_messages or log_min_messages would hide them).
  { name: 'hot_standby', value: 'on' },
  { name: 'lc_messages', value: 'C' },
  { name: 'log_min_messages', value: 'warning' },
  // Reachable only from this host, by pitrd's OS user (socket mode) and on its loopback port.
  { name: 'listen_addresses', value: '127.0.0.1' },
  { name: 'unix_socket_group', value: '' },
  { name: 'unix_socket_permissions', value: '0700' },
  { name: 'bonjour', value: 'off' },
];

export interface ServerPlacement {
  dataDir: string;
  port: number;
  socketDir: string;
  /** Major version of the server binaries (PG_VERSION of the data directory). */
  majorVersion: number;
}

/**
 * Every command-line setting of a server pitrd starts, in order: where it lives (data directory,
 * configuration files of that directory only, port, socket) and the neutralised ones.
 */
export function serverSettings(p: ServerPlacement): Array<[name: string, value: string]> {
  const placed: Array<[string, string]> = [
    // A source's postgresql.conf may name another data directory or hba/ident files elsewhere.
    ['data_directory', p.dataDir],
    ['hba_file', `${p.dataDir}/pg_hba.conf`],
    ['ident_file', `${p.dataDir}/pg_ident.conf`],
    ['port', String(p.port)],
    ['unix_socket_directories', p.socketDir],
  ];
  const neutral = NEUTRALISED.filter((s) => (s.since === undefined || p.majorVersion >= s.since) && (s.until === undefined || p.majorVersion <= s.until)).map((s): [string, string] => [s.name, s.value]);
  return [...placed, ...neutral];
}

/** The names pitrd overrides for every server it starts (docs, tests). */
export const NEUTRALISED_SETTING_NAMES: readonly string[] = NEUTRALISED.map((s) => s.name);
