import { z } from 'zod';
import { dbParams, noQuery } from '../databases/common.js';
import { projectRouteFactory } from '../databases/db-route.js';
import type { DatabaseService, PitrService } from '../databases/types.js';
import { paginate, pageQuery } from '../pagination.js';
import type { ProjectStore } from '../projects/index.js';
import type { RouteDef } from '../route.js';
import { receiverStatusSchema } from './receiver-status.js';

const pitrConfigSchema = z.object({
  enabled: z.boolean(),
  retention_days: z.number().int(),
  base_backup_id: z.string().nullable(),
  recovery_window: z.object({ from: z.string(), to: z.string() }).nullable(),
  wal_receiver_status: z.string(),
});

const retentionDays = z.int({ error: 'expected a whole number of days' }).min(1, { error: 'must be at least 1' }).max(3650, { error: 'must be at most 3650' });

/** Active health alerts (receiver down, upload backlog, stale base backup, …). */
export interface HealthService {
  /** Re-evaluate now (sends webhook notifications for changes) and return the active alerts. */
  evaluate(): Promise<unknown>;
  alerts(project?: string, database?: string): Array<{ key: string; kind: string; database: string; severity: 'warning' | 'critical'; message: string; since: number }>;
}

/** Seed 004's recovery window, plus which timeline/backup it is on and why it may be empty. */
export interface RecoveryWindowResponse {
  from: string | null;
  to: string | null;
  base_backup_time: string | null;
  latest_wal_time: string | null;
  timeline: number | null;
  /** ok | no-backup | no-restorable-backup | no-wal */
  status: string;
  base_backup_id: string | null;
  gaps: string[];
  /** LSN range of the window: the consistency point, and the end of the gap-free WAL (the highest LSN target accepted). */
  from_lsn: string | null;
  to_lsn: string | null;
  /** Last commit in the window (`to` may be later: the time the WAL is known to run through). */
  last_commit_time: string | null;
  /** Every restorable stretch, oldest first (the first is from/to; more only across missing WAL). */
  ranges: { backup_id: string; from: string; to: string; from_lsn: string; to_lsn: string; last_commit_time: string | null; last_segment: string }[];
}

export interface RecoveryWindowService {
  /** Summarises newly archived WAL first. */
  recoveryWindow(projectId: string, name: string): Promise<RecoveryWindowResponse>;
}

const recoveryWindowSchema = z.object({
  from: z.string().nullable(),
  to: z.string().nullable(),
  base_backup_time: z.string().nullable(),
  latest_wal_time: z.string().nullable(),
  timeline: z.number().int().nullable(),
  status: z.string(),
  base_backup_id: z.string().nullable(),
  gaps: z.array(z.string()),
  from_lsn: z.string().nullable(),
  to_lsn: z.string().nullable(),
  last_commit_time: z.string().nullable(),
  ranges: z.array(
    z.object({ backup_id: z.string(), from: z.string(), to: z.string(), from_lsn: z.string(), to_lsn: z.string(), last_commit_time: z.string().nullable(), last_segment: z.string() }),
  ),
});

export function pitrRoutes(deps: { projects: ProjectStore; databases: DatabaseService; pitr: PitrService; health?: HealthService; windows?: RecoveryWindowService }): RouteDef[] {
  const { databases, pitr, health, windows } = deps;
  const route = projectRouteFactory(deps, 'pitr');
  const base = '/projects/:project_id/databases/:name/pitr';
  const common = { params: dbParams };
  return [
    route({
      ...common,
      method: 'GET',
      url: `${base}/config`,
      summary: 'PITR configuration and state of a database',
      query: noQuery,
      response: pitrConfigSchema,
      async handler({ params }) {
        return pitr.config(params.project_id, params.name);
      },
    }),
    route({
      ...common,
      method: 'POST',
      url: `${base}/enable`,
      summary: 'Enable PITR: start streaming WAL into the repository',
      body: z.strictObject({ retention_days: retentionDays.optional() }),
      response: pitrConfigSchema,
      async handler({ params, body }) {
        return pitr.enable(params.project_id, params.name, body.retention_days);
      },
    }),
    route({
      ...common,
      method: 'POST',
      url: `${base}/disable`,
      summary: 'Disable PITR: stop the WAL receiver (archived WAL is kept)',
      response: pitrConfigSchema,
      async handler({ params }) {
        return pitr.disable(params.project_id, params.name);
      },
    }),
    route({
      ...common,
      method: 'GET',
      url: `${base}/wal`,
      summary: 'Archived WAL segments, in LSN order',
      query: pageQuery,
      response: z.object({
        archives: z.array(z.object({ filename: z.string(), timeline: z.number().int(), size_bytes: z.number().int(), archived_at: z.string() })),
        next_cursor: z.string().nullable(),
        total_count: z.number().int(),
        total_size_bytes: z.number().int(),
      }),
      async handler({ params, query }) {
        const all = await pitr.listWal(params.project_id, params.name);
        // The segment name starts with the timeline, so it alone orders segments by LSN within a
        // timeline; the timeline first keeps the order right across timeline switches.
        const page = paginate(all, (a) => [a.timeline, a.filename], 2, query);
        return {
          archives: page.items,
          next_cursor: page.next_cursor,
          total_count: all.length,
          total_size_bytes: all.reduce((s, a) => s + a.size_bytes, 0),
        };
      },
    }),
    route({
      ...common,
      method: 'GET',
      url: `${base}/receiver-status`,
      summary: 'Status of the WAL receiver (PITR_NOT_ENABLED when PITR is off)',
      query: noQuery,
      response: receiverStatusSchema,
      async handler({ params }) {
        return pitr.receiverStatus(params.project_id, params.name);
      },
    }),
    route({
      ...common,
      method: 'POST',
      url: `${base}/restart-receiver`,
      summary: 'End the receiver\'s replication session cleanly and start a new one',
      response: receiverStatusSchema,
      async handler({ params }) {
        return pitr.restartReceiver(params.project_id, params.name);
      },
    }),
    ...(windows
      ? [
          route({
            ...common,
            method: 'GET',
            url: `${base}/recovery-window`,
            summary: 'The times a restore can reach: from the base backup\'s consistency point to the last archived commit',
            query: noQuery,
            response: recoveryWindowSchema,
            async handler({ params }) {
              return windows.recoveryWindow(params.project_id, params.name);
            },
          }),
        ]
      : []),
    ...(health
      ? [
          route({
            method: 'GET',
            url: '/projects/:project_id/databases/:name/health',
            summary: 'Active health alerts of a database (evaluated on request)',
            params: dbParams,
            query: noQuery,
            response: z.object({
              healthy: z.boolean(),
              alerts: z.array(z.object({ kind: z.string(), severity: z.enum(['warning', 'critical']), message: z.string(), since: z.string() })),
            }),
            async handler({ params }) {
              await databases.get(params.project_id, params.name);
              await health.evaluate();
              const alerts = health.alerts(params.project_id, params.name).map((a) => ({ kind: a.kind, severity: a.severity, message: a.message, since: new Date(a.since).toISOString() }));
              return { healthy: alerts.length === 0, alerts };
            },
          }),
        ]
      : []),
  ];
}
