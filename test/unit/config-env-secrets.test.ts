import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { connectionPassword, loadConfig, parseConfigText, redactConfig } from '../../src/config/index.js';
import { isPitrdError } from '../../src/errors.js';

const KEY_HEX = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const KEY_B64 = Buffer.from(KEY_HEX, 'hex').toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'pitrd-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FILE = `
storage: { type: s3, bucket: from-file, region: eu-west-1, access_key_id: AKIAFILE, secret_access_key: file-secret-value }
spool_dir: /var/spool/pitrd
databases:
  - name: main
    connection: { host: db1, port: 5432, password: file-password-value }
  - name: other
    connection: { host: db2 }
`;

describe('environment overrides', () => {
  it('PITRD_A__B paths win over the file, with YAML scalar typing', () => {
    const cfg = parseConfigText(FILE, {
      env: {
        PITRD_STORAGE__BUCKET: 'from-env',
        PITRD_STORAGE__FORCE_PATH_STYLE: 'true',
        PITRD_DATABASES__1__CONNECTION__PORT: '6543',
        PITRD_API__RATE_LIMIT__BURST: '25',
      },
    });
    expect(cfg.storage.type === 's3' && cfg.storage.bucket).toBe('from-env');
    expect(cfg.storage.type === 's3' && cfg.storage.force_path_style).toBe(true);
    expect(cfg.storage.type === 's3' && cfg.storage.region).toBe('eu-west-1');
    expect(cfg.databases[1]!.connection.port).toBe(6543);
    expect(cfg.databases[0]!.connection.port).toBe(5432);
    expect(cfg.api.rate_limit.burst).toBe(25);
  });

  it('an array element can be addressed by database name', () => {
    const cfg = parseConfigText(FILE, { env: { PITRD_DATABASES__OTHER__CONNECTION__HOST: 'db9' } });
    expect(cfg.databases[1]!.connection.host).toBe('db9');
    expect(cfg.databases[0]!.connection.host).toBe('db1');
  });

  it('a database can be defined from the environment alone', () => {
    const cfg = parseConfigText('', { env: { PITRD_DATABASES__MAIN__CONNECTION__HOST: 'db7', PITRD_DATABASES__MAIN__PITR__RETENTION_DAYS: '3' } });
    expect(cfg.databases).toHaveLength(1);
    expect(cfg.databases[0]).toMatchObject({ name: 'main', slot_name: 'pitrd_main', connection: { host: 'db7' }, pitr: { retention_days: 3 } });
  });

  it('shortcuts win over the file', () => {
    const cfg = parseConfigText(FILE, { env: { PITRD_SPOOL_DIR: '/tmp/spool2', PITRD_COMPRESSION: 'none', PITRD_API_PORT: '9000' } });
    expect(cfg.spool_dir).toBe('/tmp/spool2');
    expect(cfg.compression.algorithm).toBe('none');
    expect(cfg.api.listen.port).toBe(9000);
  });

  it('passwords from the environment stay strings even when they look like numbers', () => {
    const cfg = parseConfigText(FILE, { env: { PITRD_DATABASES__MAIN__CONNECTION__PASSWORD: '0123' } });
    expect(cfg.databases[0]!.connection.password).toBe('0123');
  });

  it('a bad override is reported with its key path and variable name', () => {
    try {
      parseConfigText(FILE, { env: { PITRD_DATABASES__0__CONNECTION__PORT: 'abc', PITRD_STORAGE__BUKET: 'x' } });
      expect.unreachable();
    } catch (err) {
      expect(isPitrdError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain('databases[0].connection.port (from PITRD_DATABASES__0__CONNECTION__PORT): expected a number from 1 to 65535, got "abc"');
      expect((err as Error).message).toContain('storage.buket (from PITRD_STORAGE__BUKET): unknown key');
    }
  });

  it('PITRD_* variables that are not config (no __, not a shortcut) are ignored', () => {
    expect(() => parseConfigText(FILE, { env: { PITRD_PG_BIN: '/usr/bin', PITRD_CONFIG: '/x.yaml' } })).not.toThrow();
  });
});

describe('encryption key', () => {
  it('accepts 64 hex characters from PITRD_ENCRYPTION_KEY', () => {
    const cfg = parseConfigText(FILE, { env: { PITRD_ENCRYPTION_KEY: KEY_HEX } });
    expect(cfg.encryption.enabled).toBe(true);
    expect(cfg.encryption.key!.toString('hex')).toBe(KEY_HEX);
  });

  it('accepts base64 from a key_file (relative to the config file)', () => {
    writeFileSync(join(dir, 'repo.key'), `${KEY_B64}\n`);
    const file = join(dir, 'pitrd.yaml');
    writeFileSync(file, 'encryption: { key_file: repo.key }\n');
    const cfg = loadConfig({ file, env: {} });
    expect(cfg.encryption.key_file).toBe(join(dir, 'repo.key'));
    expect(cfg.encryption.key!.toString('hex')).toBe(KEY_HEX);
  });

  it('the environment key wins over key_file', () => {
    const other = 'ff'.repeat(32);
    const cfg = parseConfigText('encryption: { key_file: /nonexistent }', { env: { PITRD_ENCRYPTION_KEY: other } });
    expect(cfg.encryption.key!.toString('hex')).toBe(other);
  });

  it('a malformed key is CONFIG_INVALID naming the variable, not the value', () => {
    const bad = 'abcdef0123456789';
    try {
      parseConfigText('', { env: { PITRD_ENCRYPTION_KEY: bad } });
      expect.unreachable();
    } catch (err) {
      expect(isPitrdError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain('encryption.key (from PITRD_ENCRYPTION_KEY)');
      expect((err as Error).message).not.toContain(bad);
    }
  });

  it('an unreadable key_file names the key and path', () => {
    expect(() => parseConfigText('encryption: { key_file: /nonexistent/k }', { env: {} })).toThrow(/encryption\.key_file: cannot read "\/nonexistent\/k" \(ENOENT\)/);
  });

  it('the key and other secrets never appear in any printed form', () => {
    const cfg = parseConfigText(FILE, { env: { PITRD_ENCRYPTION_KEY: KEY_HEX } });
    const keyForms = [KEY_HEX, KEY_HEX.toUpperCase(), KEY_B64, [...cfg.encryption.key!].join(',')];
    const secrets = ['file-password-value', 'file-secret-value', 'AKIAFILE'];
    const redacted = redactConfig(cfg);
    const printed = [
      JSON.stringify(cfg),
      inspect(cfg, { depth: 10 }),
      JSON.stringify(redacted),
      inspect(redacted, { depth: 10 }),
      JSON.stringify({ ...cfg.encryption }),
    ];
    for (const text of printed) for (const k of keyForms) expect(text).not.toContain(k);
    const redactedText = JSON.stringify(redacted);
    for (const s of secrets) expect(redactedText).not.toContain(s);
    expect(redacted).toMatchObject({ encryption: { enabled: true, key: '[redacted]' }, storage: { secret_access_key: '[redacted]' } });
  });
});

describe('connection passwords', () => {
  it('password_file is read at call time, trailing newline removed', () => {
    const pw = join(dir, 'pw');
    writeFileSync(pw, 's3cret\n');
    const cfg = parseConfigText(`databases: [{ name: a, connection: { password_file: ${pw} } }]`, { env: {} });
    expect(connectionPassword(cfg.databases[0]!.connection)).toBe('s3cret');
    writeFileSync(pw, 'rotated\n');
    expect(connectionPassword(cfg.databases[0]!.connection)).toBe('rotated');
  });
});

describe('storage and repository options', () => {
  it('maps the s3 section onto the driver options', async () => {
    const { storageOptions, repositoryOptions } = await import('../../src/config/index.js');
    const cfg = parseConfigText(FILE, { env: { PITRD_STORAGE__ENDPOINT: 'http://127.0.0.1:9000', PITRD_STORAGE__FORCE_PATH_STYLE: 'true', PITRD_ENCRYPTION_KEY: KEY_HEX } });
    expect(storageOptions(cfg)).toEqual({
      type: 's3',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      bucket: 'from-file',
      accessKeyId: 'AKIAFILE',
      secretAccessKey: 'file-secret-value',
      forcePathStyle: true,
    });
    const ro = repositoryOptions(cfg);
    expect(ro.compression).toEqual({ algorithm: 'gzip' });
    expect(ro.key!.toString('hex')).toBe(KEY_HEX);
    expect(storageOptions(parseConfigText('storage: { type: fs, path: /srv/repo }', { env: {} }))).toEqual({ type: 'fs', path: '/srv/repo', directIo: 'auto' });
  });
});
