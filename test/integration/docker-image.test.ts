import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfigText } from '../../src/config/index.js';
import { freePort } from '../harness/index.js';
import { startApiFixture, type ApiFixture } from './api-fixture.js';

/**
 * The container recipe, checked without Docker: the Dockerfile read as instructions, compose.yaml
 * and the example config parsed, and the HEALTHCHECK script run against a real pitrd API.
 */
const root = join(import.meta.dirname, '..', '..');
const docker = join(root, 'docker');

interface Instruction {
  op: string;
  args: string;
}

/** Instructions with continuation lines joined and comments dropped: enough to read a recipe. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (pending === '' && /^\s*(#|$)/.test(line)) continue;
    pending += line.replace(/\\\s*$/, ' ');
    if (/\\\s*$/.test(line)) continue;
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(pending);
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    pending = '';
  }
  return out;
}

describe('docker/Dockerfile', () => {
  const all = instructions(readFileSync(join(docker, 'Dockerfile'), 'utf8'));
  const stageStarts = all.flatMap((ins, i) => (ins.op === 'FROM' ? [i] : []));
  const runtime = all.slice(stageStarts.at(-1));
  const argDefault = (name: string) => all.find((i) => i.op === 'ARG' && i.args.startsWith(`${name}=`))?.args.split('=')[1];

  it('builds every stage on one pinned Node 22 release (bookworm-slim), compiling in a build stage', () => {
    const froms = all.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0]!.replace('${NODE_IMAGE}', argDefault('NODE_IMAGE') ?? '?'));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f).toMatch(/^node:22\.\d+\.\d+-bookworm-slim$/);
    const runs = all.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs).toContain('npm ci --ignore-scripts');
    expect(runs).toContain('npm run build');
    expect(runs.some((r) => r.startsWith('npm ci --omit=dev'))).toBe(true);
  });

  it('installs PostgreSQL 15 server and client from Debian alone', () => {
    const runs = runtime.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    expect(runs).toMatch(/apt-get install[^\n]*postgresql-15 postgresql-client-15/);
    // No third-party apt source or key.
    expect(runs).not.toMatch(/sources\.list|apt-key|gpg|curl|wget/);
    expect(runtime.find((i) => i.op === 'ENV')?.args).toContain('PATH=/usr/lib/postgresql/15/bin:$PATH');
  });

  it('runs as the non-root user pitrd, with the spool and repository volumes, the API port, a health check and the entrypoint', () => {
    const users = runtime.filter((i) => i.op === 'USER').map((i) => i.args.split(':')[0]);
    expect(users.at(-1)).toBe('pitrd');
    const volumes = JSON.parse(runtime.find((i) => i.op === 'VOLUME')!.args) as string[];
    expect(volumes).toEqual(expect.arrayContaining(['/var/lib/pitrd/spool', '/var/lib/pitrd/repository']));
    expect(runtime.find((i) => i.op === 'EXPOSE')?.args).toBe(String(parseConfigText('').api.listen.port));
    const health = runtime.find((i) => i.op === 'HEALTHCHECK')!.args;
    expect(health).toMatch(/CMD \["node", "\/opt\/pitrd\/docker\/healthcheck\.mjs"\]$/);
    // tini from Debian is the init (no reliance on `docker run --init`).
    expect(JSON.parse(runtime.find((i) => i.op === 'ENTRYPOINT')!.args)).toEqual(['/usr/bin/tini', '-s', '--', '/opt/pitrd/docker/entrypoint.sh']);
    expect(runtime.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n')).toMatch(/apt-get install[^\n]*\btini\b/);
    const labels = runtime.filter((i) => i.op === 'LABEL').map((i) => i.args).join(' ');
    for (const l of ['title', 'description', 'licenses']) expect(labels).toContain(`org.opencontainers.image.${l}=`);
  });

  it('copies only files that exist and that the build context lets through', () => {
    const ignore = readFileSync(join(docker, 'Dockerfile.dockerignore'), 'utf8');
    const allowed = ignore.split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/\*\*$/, ''));
    const copies = all.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const sources = c.args.split(/\s+/).slice(0, -1);
      for (const s of sources) {
        expect(existsSync(join(root, s)), s).toBe(true);
        expect(allowed, s).toContain(s);
      }
    }
  });
});

describe('docker/compose.yaml', () => {
  const compose = parseYaml(readFileSync(join(docker, 'compose.yaml'), 'utf8')) as {
    services: Record<string, { image?: string; command?: string[]; build?: { context: string; dockerfile: string }; volumes?: string[]; environment?: Record<string, string>; init?: boolean }>;
    volumes: Record<string, unknown>;
  };

  it('runs pitrd beside postgres:15 with wal_level=replica and an S3-compatible store', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'pitrd', 'minio']));
    const pg = compose.services.postgres!;
    expect(pg.image).toBe('postgres:15');
    expect(pg.command!.join(' ')).toContain('wal_level=replica');
    expect(pg.volumes).toContain('./initdb:/docker-entrypoint-initdb.d:ro');
    expect(existsSync(join(docker, 'initdb', '10-pitrd-replication.sh'))).toBe(true);
  });

  it('builds pitrd from docker/Dockerfile, mounts the example config and a spool volume', () => {
    const p = compose.services.pitrd!;
    expect(existsSync(join(docker, p.build!.context, p.build!.dockerfile))).toBe(true);
    // The image brings its own init (tini); compose adds none.
    expect(p.init).toBeUndefined();
    expect(p.volumes).toContain('./pitrd.example.yaml:/etc/pitrd/pitrd.yaml:ro');
    const spool = p.volumes!.find((v) => v.endsWith(':/var/lib/pitrd/spool'))!;
    expect(Object.keys(compose.volumes)).toContain(spool.split(':')[0]);
    expect(p.environment!.PITRD_CONFIG).toBe('/etc/pitrd/pitrd.yaml');
  });

  it('the example config is valid with the variables compose passes, and matches the compose services', () => {
    const env = { PITRD_STORAGE__ACCESS_KEY_ID: 'pitrd', PITRD_STORAGE__SECRET_ACCESS_KEY: 'secret-123', PITRD_DATABASES__MAIN__CONNECTION__PASSWORD: 'pw' };
    const cfg = parseConfigText(readFileSync(join(docker, 'pitrd.example.yaml'), 'utf8'), { env, baseDir: '/etc/pitrd' });
    expect(cfg.storage).toMatchObject({ type: 's3', endpoint: 'http://minio:9000', bucket: 'pitrd', force_path_style: true });
    expect(cfg.spool_dir).toBe('/var/lib/pitrd/spool');
    expect(cfg.api.listen).toEqual({ host: '0.0.0.0', port: 7432 });
    expect(cfg.databases.map((d) => [d.name, d.connection.host, d.connection.user, d.connection.password])).toEqual([['main', 'postgres', 'pitrd', 'pw']]);
    // Every PITRD_* variable compose sets is one the config understands.
    const names = Object.keys(compose.services.pitrd!.environment!).filter((k) => k !== 'PITRD_CONFIG');
    expect(names.sort()).toEqual(Object.keys(env).sort());
  });
});

describe('docker/healthcheck.mjs against a real pitrd API', () => {
  // The image layout: /opt/pitrd/docker/healthcheck.mjs beside /opt/pitrd/dist. Here dist/config
  // re-exports the TypeScript sources (run through tsx) so no build is needed.
  const layout = mkdtempSync(join(tmpdir(), 'pitrd-health-'));
  let fx: ApiFixture;
  let port: number;

  beforeAll(async () => {
    mkdirSync(join(layout, 'docker'));
    mkdirSync(join(layout, 'dist', 'config'), { recursive: true });
    copyFileSync(join(docker, 'healthcheck.mjs'), join(layout, 'docker', 'healthcheck.mjs'));
    writeFileSync(join(layout, 'dist', 'config', 'index.js'), `export * from ${JSON.stringify(pathToFileURL(join(root, 'src/config/index.ts')).href)};\n`);
    fx = await startApiFixture({ logger: false });
    port = await freePort();
    await fx.app.listen({ host: '127.0.0.1', port });
  });
  afterAll(async () => {
    try {
      await fx?.close();
    } finally {
      rmSync(layout, { recursive: true, force: true });
    }
  });

  function check(env: Record<string, string>) {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PITRD_')));
    return execa(process.execPath, ['--import', import.meta.resolve('tsx'), join(layout, 'docker', 'healthcheck.mjs')], { env: { ...base, ...env }, extendEnv: false, reject: false, cwd: layout });
  }

  it('is healthy when GET / answers, finding the port through the config file', async () => {
    const file = join(layout, 'pitrd.yaml');
    writeFileSync(file, `api: { listen: { host: 0.0.0.0, port: ${port} } }\nstorage: { type: fs, path: ${join(layout, 'repo')} }\n`);
    const r = await check({ PITRD_CONFIG: file });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('follows PITRD_API_PORT, and is unhealthy when nothing answers there', async () => {
    expect((await check({ PITRD_API_PORT: String(port) })).exitCode).toBe(0);
    const closed = await freePort();
    const r = await check({ PITRD_API_PORT: String(closed) });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^unhealthy: /);
  });
});
