import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { isPitrdError, type PitrdError } from '../../src/errors.js';

/** Parse with an empty environment; return the CONFIG_INVALID error's problem lines. */
function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(yaml, { env, baseDir: '/etc/pitrd' });
  } catch (err) {
    expect(isPitrdError(err, 'CONFIG_INVALID')).toBe(true);
    return ((err as PitrdError).context.problems as string[] | undefined) ?? [(err as Error).message];
  }
  throw new Error('expected CONFIG_INVALID');
}

const db = (extra: string) => `databases:\n  - name: main\n    connection: { host: db1 }\n  - name: second\n${extra}`;

describe('config validation names every offending key', () => {
  it('accepts an empty file and fills defaults', () => {
    const cfg = parseConfigText('', { env: {}, baseDir: '/etc/pitrd' });
    expect(cfg.storage).toEqual({ type: 'fs', path: '/etc/pitrd/pitrd-data/repository', direct_io: 'auto' });
    expect(cfg.compression.algorithm).toBe('gzip');
    expect(cfg.encryption.enabled).toBe(false);
    expect(cfg.spool_dir).toBe('/etc/pitrd/pitrd-data/spool');
    expect(cfg.api.listen).toEqual({ host: '127.0.0.1', port: 7432 });
    expect(cfg.databases).toEqual([]);
    expect(cfg.restore_dir).toBeUndefined();
  });

  it('resolves restore_dir against the config file and refuses an empty one', () => {
    expect(parseConfigText('restore_dir: restores-here', { env: {}, baseDir: '/etc/pitrd' }).restore_dir).toBe('/etc/pitrd/restores-here');
    expect(() => parseConfigText("restore_dir: ''", { env: {} })).toThrow(/restore_dir/);
  });

  it('fills database defaults and derives the slot name', () => {
    const cfg = parseConfigText('databases: [{ name: my-db.x, connection: {} }]'.replace('my-db.x', 'my-db'), { env: {} });
    const d = cfg.databases[0]!;
    expect(d.slot_name).toBe('pitrd_my_db');
    expect(d.project).toBe('default');
    expect(d.connection).toEqual({ host: 'localhost', port: 5432, user: 'postgres', dbname: 'postgres', sslmode: 'prefer' });
    expect(d.pitr).toEqual({ enabled: true, retention_days: 7, synchronous: false });
    expect(d.backup.schedule).toBe('0 3 * * *');
    expect(d.retention.min_full_backups).toBe(2);
  });

  it('a port that is not a number', () => {
    expect(problems(db('    connection: { port: abc }'))).toEqual(['databases[1].connection.port: expected a number from 1 to 65535, got "abc"']);
  });

  it('a port out of range', () => {
    expect(problems(db('    connection: { port: 70000 }'))).toEqual(['databases[1].connection.port: expected a number from 1 to 65535, got 70000']);
  });

  it('an unknown key (typo) is an error, not ignored', () => {
    expect(problems(db('    connection: {}\n    pitr: { retension_days: 3 }'))).toEqual(['databases[1].pitr.retension_days: unknown key']);
    expect(problems('storages: { type: fs }')).toEqual(['storages: unknown key']);
  });

  it('a bad enum value', () => {
    expect(problems('compression: { algorithm: brotli }')).toEqual(['compression.algorithm: expected one of none, gzip, zstd, lz4, got "brotli"']);
    expect(problems('compression: brotli')).toEqual(['compression.algorithm: expected one of none, gzip, zstd, lz4, got "brotli"']);
    expect(problems(db('    connection: { sslmode: always }'))[0]).toMatch(/^databases\[1\]\.connection\.sslmode: expected one of disable, .*got "always"$/);
  });

  it('a compression the storage layer of this build cannot do', () => {
    expect(problems('compression: zstd')).toEqual(['compression.algorithm: not supported by this pitrd build (supported: none, gzip), got "zstd"']);
  });

  it('a bad storage type and missing s3 bucket', () => {
    expect(problems('storage: { type: gcs }')).toEqual(['storage.type: expected type "fs" or "s3", got "gcs"']);
    expect(problems('storage: { type: s3, region: eu-west-1 }')).toEqual(['storage.bucket: required: expected a bucket name']);
  });

  it('keys of the other storage type are unknown', () => {
    expect(problems('storage: { type: s3, bucket: b, path: /x }')).toEqual(['storage.path: unknown key']);
  });

  it('a bad cron schedule', () => {
    expect(problems(db('    connection: {}\n    backup: { schedule: "0 25 * * *" }'))).toEqual([
      'databases[1].backup.schedule: expected a valid cron expression such as "0 3 * * *", got "0 25 * * *"',
    ]);
  });

  it('wrong types: boolean, list, mapping, integer', () => {
    expect(problems(db('    connection: {}\n    pitr: { synchronous: maybe }'))).toEqual(['databases[1].pitr.synchronous: expected true or false, got "maybe"']);
    expect(problems('databases: { name: x }')).toEqual(['databases: expected a list of databases, got a mapping']);
    expect(problems('databases: [{ name: x }]')).toEqual(['databases[0].connection: required: expected a mapping']);
    expect(problems(db('    connection: {}\n    pitr: { retention_days: 1.5 }'))).toEqual(['databases[1].pitr.retention_days: expected a positive integer, got 1.5']);
  });

  it('a bad database name and a duplicate one', () => {
    expect(problems('databases: [{ name: "Bad Name", connection: {} }]')[0]).toMatch(/^databases\[0\]\.name: expected 1-63 characters.*got "Bad Name"$/);
    expect(problems(db('    connection: {}\n  - name: main\n    connection: {}'))).toEqual(['databases[2].name: duplicate database name in project default, already used by databases[0], got "main"']);
  });

  it('a bad S3 endpoint and prefix', () => {
    expect(problems('storage: { type: s3, bucket: b, endpoint: "not a url", prefix: "/a/" }')).toEqual([
      'storage.endpoint: expected a URL such as https://s3.example.com, got "not a url"',
      'storage.prefix: expected a key prefix without leading, trailing or doubled "/", got "/a/"',
    ]);
  });

  it('password and password_file together', () => {
    expect(problems(db('    connection: { password: x, password_file: /p }'))).toEqual(['databases[1].connection: set password or password_file, not both, got a mapping']);
  });

  it('TLS files: resolved against the config file; sslcert and sslkey together; none with sslmode disable', () => {
    const cfg = parseConfigText(db('    connection: { sslmode: verify-full, sslrootcert: certs/ca.crt, sslcert: /abs/client.crt, sslkey: certs/client.key }'), { env: {}, baseDir: '/etc/pitrd' });
    expect(cfg.databases[1]!.connection).toMatchObject({ sslmode: 'verify-full', sslrootcert: '/etc/pitrd/certs/ca.crt', sslcert: '/abs/client.crt', sslkey: '/etc/pitrd/certs/client.key' });
    expect(problems(db('    connection: { sslcert: /c.crt }'))).toEqual(['databases[1].connection: set sslcert and sslkey together (the client certificate and its private key), got a mapping']);
    expect(problems(db('    connection: { sslmode: disable, sslrootcert: /ca.crt }'))).toEqual([
      'databases[1].connection: sslrootcert, sslcert and sslkey have no effect with sslmode disable; remove them or choose another sslmode, got a mapping',
    ]);
    expect(problems(db("    connection: { sslrootcert: '' }"))).toEqual(['databases[1].connection.sslrootcert: expected a file path, not an empty string, got ""']);
  });

  it('several problems are all reported at once', () => {
    const lines = problems(`
api: { listen: { port: 0 } }
databases:
  - name: a
    connection: { port: x }
    extra: 1
`);
    expect(lines).toEqual([
      'api.listen.port: expected a number from 1 to 65535, got 0',
      'databases[0].connection.port: expected a number from 1 to 65535, got "x"',
      'databases[0].extra: unknown key',
    ]);
  });

  it('a secret value is never echoed in a validation message', () => {
    const lines = problems(db('    connection: { password: 12345 }'));
    expect(lines).toEqual(['databases[1].connection.password: expected a password string']);
    expect(lines.join('\n')).not.toContain('12345');
  });

  it('invalid YAML names the line', () => {
    expect(() => parseConfigText('storage: [\n  a: b: c', { env: {}, source: '/etc/pitrd.yaml' })).toThrow(/\/etc\/pitrd\.yaml: line \d+/);
  });

  it('the message names each key and the error code is CONFIG_INVALID', () => {
    try {
      parseConfigText(db('    connection: { port: abc }'), { env: {}, source: '/etc/pitrd.yaml' });
      expect.unreachable();
    } catch (err) {
      expect(isPitrdError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain('invalid configuration in /etc/pitrd.yaml');
      expect((err as Error).message).toContain('databases[1].connection.port: expected a number from 1 to 65535, got "abc"');
    }
  });

  it('the result is deeply frozen', () => {
    const cfg = parseConfigText('databases: [{ name: a, connection: {} }]', { env: {} });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.databases)).toBe(true);
    expect(Object.isFrozen(cfg.databases[0]!.connection)).toBe(true);
    expect(() => {
      (cfg.databases[0]!.connection as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});
