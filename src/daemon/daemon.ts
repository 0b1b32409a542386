/**
 * `startDaemon(config)`: one process wiring the repository, the protected databases (with a WAL
 * receiver each while PITR is enabled, on the receiver threads), their base backups and retention
 * on cron schedules, health alerts, restores and branches run in the background (the services of
 * src/service), the catalog thread, and the HTTP API.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { backupRoutes } from '../api/backups/index.js';
import { branchRoutes } from '../api/branches/index.js';
import { databaseRoutes } from '../api/databases/index.js';
import { infraiRoutes } from '../api/infrai/index.js';
import { ConfigProjectStore, createApi, createApiLogger, MetricsRegistry, registerProcessMetrics } from '../api/index.js';
import { eventRoutes, pitrRoutes } from '../api/pitr/index.js';
import { restoreRoutes } from '../api/restores/index.js';
import { drillRoutes } from '../api/drills/index.js';
import { FileTokenStore, type TokenVerifier } from '../auth/index.js';
import { repositoryOptions, storageOptions, type Config } from '../config/index.js';
import { setConfiguredBinDirs } from '../postgres/cluster/index.js';
import { loggedError } from '../errors.js';
import { createWebhookNotifier, type HealthThresholds } from '../health/index.js';
import type { Repository } from '../repository/index.js';
import {
  BackupManager,
  BranchManager,
  DatabaseRegistryStore,
  DEFAULT_THRESHOLDS,
  DrillManager,
  entryKey,
  HealthMonitor,
  InfraiApi,
  InstanceManager,
  loadUrlSigningSecret,
  ObjectStoreProjectStore,
  ProtectedDatabases,
  entryConnection,
  EventIndex,
  RecoveryWindows,
  RelationMapTaker,
  RepositoryIdempotencyStore,
  RestoreManager,
} from '../service/index.js';
import { createObjectStore, signFsUrl } from '../storage/index.js';
import { FileSignatureCachedVerifier } from './token-verifier.js';
import { CatalogThread } from './catalog-thread.js';
import { EventLoopMonitor, registerEventLoopMetrics } from './event-loop.js';
import { registerAlertMetrics, registerBackupMetrics, registerDrillMetrics, registerHealthMetrics, registerReceiverMetrics } from './metrics.js';
import { drillSettings } from './drill-settings.js';
import { isWildcardAddress, linkBase } from './link-base.js';
import { registerObjectRoute } from './object-route.js';
import { ReceiverThread } from './receiver-thread.js';
import { lockSpool } from './spool-lock.js';
import { guardedPaths, readableByRestoreUser } from './restore-user-access.js';
import { openRepositoryOrLocalCopy } from './repository-copy.js';
import { VERSION } from '../version.js';

export interface StartDaemonOptions {
  /** pino logger; default: createApiLogger() (secret redaction) on stdout. */
  logger?: Logger;
  /** Overrides the listen port (0 = any free port); default: api.listen.port. */
  port?: number;
  /** Run the backup and retention cron schedules (default true; tests drive them by hand). */
  schedules?: boolean;
  /** POSTed each alert change as JSON (alert.raised / alert.cleared). */
  alertWebhookUrl?: string;
  /** How often newly archived WAL is summarised in the background (default 10 s). */
  summaryIntervalMs?: number;
  /** How often health is evaluated (default 60 s). */
  healthIntervalMs?: number;
  /** Alert thresholds over DEFAULT_THRESHOLDS (src/service/health-monitor.ts) and the config's health.upload_failure_alert_seconds. */
  healthThresholds?: Partial<HealthThresholds>;
  /**
   * The only directory tree restores and branches are written to (a request's target_dir must
   * lie inside it). Default: config `restore_dir`, else `restores` next to spool_dir.
   */
  restoreRoot?: string;
}

export interface Daemon {
  /** Base URL of the API, e.g. http://127.0.0.1:7432. */
  url: string;
  app: FastifyInstance;
  repo: Repository;
  databases: ProtectedDatabases;
  backups: BackupManager;
  health: HealthMonitor;
  restores: RestoreManager;
  branches: BranchManager;
  drills: DrillManager;
  instances: InstanceManager;
  /** Graceful: stop accepting requests, finish in-flight ones, stop receivers (flush + report). */
  stop(): Promise<void>;
}

/** No tokens file configured: nobody can call token routes (the log says why). */
const noTokens: TokenVerifier = { verify: async () => null };

export async function startDaemon(config: Config, opts: StartDaemonOptions = {}): Promise<Daemon> {
  setConfiguredBinDirs(config.postgres.bin_dirs);
  const logger = opts.logger ?? createApiLogger();
  // Before anything starts: a second daemon on this spool must start no receiver at all.
  const spoolLock = lockSpool(config.spool_dir);
  // From the start: a slow start-up (receivers catching up, first summaries) shows too.
  const loop = new EventLoopMonitor();
  loop.start();
  const store = createObjectStore(storageOptions(config));
  let manager: ProtectedDatabases | null = null;
  let backups: BackupManager | null = null;
  let app: FastifyInstance | null = null;
  let branches: BranchManager | null = null;
  let instances: InstanceManager | null = null;
  let catalogThread: CatalogThread | null = null;
  let drills: DrillManager | null = null;
  try {
    // During a storage outage: from the verified local copy of repo.json kept in the spool dir.
    const { repo, fromLocalCopy } = await openRepositoryOrLocalCopy(store, repositoryOptions(config), config.spool_dir, logger);
    logger.info({ repository: store.location, created: repo.created, encrypted: config.encryption.enabled, from_local_copy: fromLocalCopy }, 'repository opened');
    if (!config.encryption.enabled) {
      logger.warn('repository is not encrypted: passwords of databases registered through the API are stored in clear text in it');
    }
    const registry = new DatabaseRegistryStore(store, config.encryption.key);
    // The configuration file's projects are projects too (listed, gettable, token-scoped).
    const projects = new ConfigProjectStore(new ObjectStoreProjectStore(store), new Set(config.databases.map((d) => d.project)));
    const catalog = new CatalogThread(config, repo.repoJson);
    catalogThread = catalog;
    const windows = new RecoveryWindows(repo, logger, catalog);
    const b = new BackupManager({ config, repo, logger: logger.child({ component: 'backups' }), schedules: opts.schedules ?? true, onCatalogChange: (name) => windows.invalidate(name) });
    backups = b;
    // Relation names for the event index, taken over SQL when a receiver starts and when new WAL
    // holds schema changes (base backups take theirs themselves).
    let entryOf: ((project: string, name: string) => ReturnType<ProtectedDatabases['lookup']>) | null = null;
    const relationMaps = new RelationMapTaker(
      repo,
      (ref) => {
        try {
          return entryOf ? entryConnection(entryOf(ref.project, ref.name)) : null;
        } catch {
          return null; // removed meanwhile
        }
      },
      logger.child({ component: 'relation-maps' }),
    );
    windows.onCatalogChange((ref) => void relationMaps.take(ref, 'catalog_change'));
    manager = new ProtectedDatabases({
      config,
      repo,
      registry,
      logger,
      windows,
      onChange: async (entries) => {
        await b.sync(entries);
        drills?.sync(entries);
      },
      startReceiver: (options, receiverLogger) => new ReceiverThread(config, options, receiverLogger, repo.repoJson),
      onReceiverStarted: (ref) => void relationMaps.take(ref, 'receiver_connect'),
    });
    const pm = manager;
    entryOf = (project, name) => pm.lookup(project, name);
    const restoreRoot = resolve(opts.restoreRoot ?? config.restore_dir ?? join(dirname(config.spool_dir), 'restores'));
    let restoresRef: RestoreManager | null = null;
    // Managed instances' servers start before the receivers that stream from them.
    const inst = new InstanceManager({
      root: restoreRoot,
      databases: manager,
      backups: b,
      restores: () => restoresRef!,
      logger: logger.child({ component: 'instances' }),
    });
    instances = inst;
    await inst.start();
    await manager.start();
    const mgr = manager;
    const lookup = (projectId: string, name: string) => mgr.lookup(projectId, name);
    const restores = new RestoreManager({
      repo,
      lookup,
      root: restoreRoot,
      logger: logger.child({ component: 'restores' }),
      catalog: catalog.planCatalog(),
      limits: { maxPerDatabase: config.restores.max_per_database, maxTotal: config.restores.max_total, minFreeBytes: config.restores.min_free_bytes },
    });
    restoresRef = restores;
    const br = new BranchManager({ restores, lookup, logger: logger.child({ component: 'branches' }) });
    restores.countBranches = (project, database) => br.count(project, database);
    branches = br;
    await restores.stopLeftRunning();
    for (const p of await readableByRestoreUser(guardedPaths(config))) {
      logger.warn({ path: p.path }, `the ${p.what} ${p.path} can be read by the postgres OS user that restored servers run as (their superusers can run OS commands as it): make it owned by root and not readable by others (chmod 600 a file, 700 a directory)`);
    }
    await br.start();
    // Scheduled drills wait until the API is up (the health monitor is told their results).
    let onDrillEnd: () => void = () => undefined;
    const dr = new DrillManager({
      repo,
      lookup,
      entries: () => mgr.listEntries(),
      restores,
      root: restoreRoot,
      logger: logger.child({ component: 'drills' }),
      settings: (e) => drillSettings(config, e),
      schedules: opts.schedules ?? true,
      onDrillEnd: () => onDrillEnd(),
    });
    drills = dr;
    await dr.removeLeftovers();
    mgr.setRemoveGuard((projectId, name) => {
      br.assertNone(projectId, name);
      restores.assertIdle(projectId, name);
    });

    const metrics = new MetricsRegistry();
    const m = manager;
    registerReceiverMetrics(metrics, () => m.receivers());
    registerBackupMetrics(metrics, () => b.observe());
    const health = new HealthMonitor({
      entries: () => m.listEntries(),
      lastBackups: async () => new Map((await b.observe()).map((d) => [entryKey(d.project, d.name), d.listError ? { error: d.listError } : d.lastCompletedAt])),
      notifier: opts.alertWebhookUrl ? createWebhookNotifier({ url: opts.alertWebhookUrl, logger }) : null,
      logger,
      archiveGap: (e) => windows.archiveGap(e),
      serverMajor: async (e) => (await repo.database({ project: e.project, name: e.name }).info())?.pg_version ?? null,
      drills: () => dr.observe(),
      ...(opts.healthIntervalMs !== undefined ? { intervalMs: opts.healthIntervalMs } : {}),
      thresholds: { ...DEFAULT_THRESHOLDS, uploadFailureMs: config.health.upload_failure_alert_seconds * 1000, ...opts.healthThresholds },
    });
    onDrillEnd = () => void health.evaluate().catch((err: unknown) => logger.warn({ err: loggedError(err) }, 'health evaluation after a restore drill failed'));
    registerAlertMetrics(metrics, () => health.alerts());
    registerDrillMetrics(metrics, () => dr.observe());
    registerHealthMetrics(metrics, () => health.measurements());
    registerEventLoopMetrics(metrics, loop);
    registerProcessMetrics(metrics, VERSION);

    let auth: TokenVerifier = noTokens;
    if (config.api.tokens_file !== undefined) auth = new FileSignatureCachedVerifier(config.api.tokens_file, new FileTokenStore(config.api.tokens_file));
    else logger.warn('api.tokens_file is not set: every API request except / and /openapi.json will be refused');

    const rl = config.api.rate_limit;
    const limit = { perMinute: rl.requests_per_minute, burst: rl.burst };
    app = await createApi({
      services: { projects, databases: inst },
      auth,
      logger,
      metrics,
      metricsTokenHashes: config.api.token_hashes,
      // In the repository: a retry after a daemon restart still gets the first answer.
      idempotency: new RepositoryIdempotencyStore(store, config.encryption.key, undefined, (err) =>
        logger.warn({ err: loggedError(err) }, 'could not store an idempotency record; a retry of that request will run it again'),
      ),
      // The config's rate_limit sets the free tier; pro tokens keep the reference's pro tier.
      rateLimits: { free: limit },
      authFailureLimit: { perMinute: rl.failed_auth_per_minute, burst: rl.failed_auth_burst },
      routes: [
        ...databaseRoutes({ projects, databases: inst }),
        ...pitrRoutes({ projects, databases: manager, pitr: manager, health, windows: manager }),
        ...backupRoutes({ projects, databases: manager, backups: b }),
        ...restoreRoutes({ projects, databases: manager, restores }),
        ...eventRoutes({ projects, databases: manager, events: new EventIndex(repo, lookup, config.events.large_change_rows) }),
        ...branchRoutes({ projects, databases: manager, branches: br }),
        ...drillRoutes({ projects, databases: manager, drills: dr }),
        ...infraiRoutes({ infrai: new InfraiApi({ projects, instances: inst, branches: br, backups: b }) }),
      ],
    });
    // A store that cannot presign gets links served by this API: their secret is kept in the
    // repository, so URLs handed out before a restart still work until they expire.
    const signingSecret = store.capabilities.presign ? randomBytes(32) : await loadUrlSigningSecret(store, config.encryption.key);
    registerObjectRoute(app, store, signingSecret);
    const host = config.api.listen.host;
    await app.listen({ host, port: opts.port ?? config.api.listen.port });
    const addr = app.server.address() as AddressInfo;
    const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    logger.info({ url }, 'pitrd API listening');
    const links = { publicUrl: config.api.public_url, bound: addr };
    if (config.api.public_url === undefined && isWildcardAddress(addr.address)) {
      logger.warn({ host }, 'api.public_url is not set and the API listens on a wildcard address: download links use each request\'s Host header; set api.public_url to how clients reach the daemon');
    }
    b.setSigner(
      store.capabilities.presign
        ? async (key, ttl) => {
            const s = await store.signedUrl(key, ttl);
            return { url: s.url, expiresAt: s.expiresAt };
          }
        : async (key, ttl, request) => signFsUrl({ publicBaseUrl: linkBase(links, request?.host), secret: signingSecret, key, expiresInSeconds: ttl }),
    );
    health.start();
    dr.sync(m.listEntries());
    windows.startBackground(() => m.listEntries().filter((e) => e.receiver !== null), opts.summaryIntervalMs);

    const a = app;
    let stopping: Promise<void> | null = null;
    return {
      url,
      app,
      repo,
      databases: manager,
      backups: b,
      health,
      restores,
      branches: br,
      drills: dr,
      instances: inst,
      stop() {
        stopping ??= (async () => {
          logger.info('shutting down');
          // Running backups and restores are aborted (recorded as interrupted) at once, not
          // after the HTTP drain, and before the receivers stop; branch servers are stopped.
          await Promise.all([closeHttp(a), health.stop(), b.stop(), restores.stop(), br.stop(), dr.stop()]);
          await m.stop();
          // After the receivers: they get the servers' last WAL before these stop.
          await inst.stop();
          await windows.stop();
          await catalog.stop();
          await store.close();
          loop.stop();
          spoolLock.release();
          logger.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await app?.close().catch(() => undefined);
    await backups?.stop().catch(() => undefined);
    await branches?.stop().catch(() => undefined);
    await drills?.stop().catch(() => undefined);
    await manager?.stop().catch(() => undefined);
    await instances?.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    await catalogThread?.stop().catch(() => undefined);
    loop.stop();
    spoolLock.release();
    throw err;
  }
}

/**
 * Close the API: stop accepting, let in-flight requests finish, then drop the connections.
 * Node closes only the keep-alive connections idle at the moment close() is called; one whose
 * response was still being written stays open until its keep-alive timeout (72 s in fastify), so
 * a SIGTERM during a download would hang shutdown that long. Idle connections are closed again as
 * they become idle, and after a grace period every connection is closed.
 */
async function closeHttp(app: { close(): Promise<unknown>; server: { closeIdleConnections(): void; closeAllConnections(): void } }, graceMs = 10_000): Promise<void> {
  const closing = app.close();
  const idle = setInterval(() => app.server.closeIdleConnections(), 100);
  const hard = setTimeout(() => app.server.closeAllConnections(), graceMs);
  try {
    await closing;
  } finally {
    clearInterval(idle);
    clearTimeout(hard);
  }
}
