/**
 * infrai's managed-database API (src/api/infrai) over pitrd's own services. The mapping:
 * - an infrai project is a pitrd database: project.create provisions a managed instance
 *   (./instances.ts) in the token's home pitrd project; a registered database is listed too. Its
 *   id is the database's (`db_{project}_{name}`); its name is the client's (the database name
 *   is derived from it: lower case, [a-z0-9_-], made unique in the pitrd project);
 * - a branch is a pitrd branch of that database (./branches.ts), at the end of its archive;
 * - a snapshot is a base backup (./backups.ts); snapshot.restore provisions a new managed
 *   instance restored from it, in the same pitrd project;
 * - project.delete deletes its branches, then the database with its repository data (its
 *   snapshots) and, for a managed instance, its server and data directory.
 * Tokens: a pitrd token reaches the databases of its pitrd projects. project.create puts the new
 * instance in the token's only project, or for a `*` token in the pitrd project named "infrai"
 * (created on first use); a token scoped to several projects cannot create (FORBIDDEN).
 */
import { connectionString, type DatabaseView } from '../api/databases/index.js';
import type { CreateInfraiProjectInput, InfraiBranch, InfraiProject, InfraiScope, InfraiService, InfraiSnapshot } from '../api/infrai/index.js';
import type { ProjectStore } from '../api/projects/index.js';
import type { BackupView } from '../api/backups/index.js';
import type { BranchView } from '../api/branches/index.js';
import { isPitrdError, PitrdError } from '../errors.js';
import type { BackupManager } from './backups.js';
import type { BranchManager } from './branches.js';
import type { InstanceManager } from './instances.js';

/** The pitrd project a `*` token's infrai projects are created in. */
export const INFRAI_HOME_PROJECT = 'infrai';

interface Located {
  project: string;
  view: DatabaseView;
}

export class InfraiApi implements InfraiService {
  constructor(private readonly deps: { projects: ProjectStore; instances: InstanceManager; branches: BranchManager; backups: BackupManager }) {}

  // --- projects ---

  async createProject(scope: InfraiScope, input: CreateInfraiProjectInput): Promise<InfraiProject> {
    const home = await this.home(scope);
    const name = await this.freeName(home, input.name);
    const v = await this.deps.instances.provision(home, {
      name,
      region: input.region,
      postgresVersion: input.postgres_version === undefined ? undefined : Number(input.postgres_version),
      ...(name !== input.name ? { displayName: input.name } : {}),
    });
    return this.project({ project: home, view: v });
  }

  async getProject(scope: InfraiScope, id: string): Promise<InfraiProject> {
    return this.project(await this.locate(scope, id));
  }

  async listProjects(scope: InfraiScope): Promise<InfraiProject[]> {
    return Promise.all((await this.all(scope)).map((l) => this.project(l)));
  }

  async deleteProject(scope: InfraiScope, id: string): Promise<void> {
    const l = await this.locate(scope, id);
    for (const b of await this.deps.branches.list(l.project, l.view.name).catch(notFoundAsEmpty)) await this.deps.branches.remove(l.project, l.view.name, b.id);
    await this.deps.instances.remove(l.project, l.view.name, true);
  }

  // --- branches ---

  async createBranch(scope: InfraiScope, input: { project_id: string; branch_name: string; from_branch?: string | undefined }): Promise<InfraiBranch> {
    const l = await this.locate(scope, input.project_id, 'body.project_id');
    const from = input.from_branch;
    if (from !== undefined && from !== 'main' && from !== l.view.id && from !== l.view.name) {
      throw new PitrdError('VALIDATION_ERROR', `body.from_branch: a branch is made from the project itself ("main" or ${l.view.id}); branching from branch "${from}" is not supported`, {
        context: { fields: ['body.from_branch'] },
      });
    }
    const b = await this.deps.branches.create(l.project, l.view.name, { branchName: input.branch_name, target: {} });
    return this.branch(l, b);
  }

  async getBranch(scope: InfraiScope, id: string): Promise<InfraiBranch> {
    for (const l of await this.all(scope)) {
      const b = (await this.deps.branches.list(l.project, l.view.name).catch(notFoundAsEmpty)).find((x) => x.id === id);
      if (b) return this.branch(l, b);
    }
    throw new PitrdError('BRANCH_NOT_FOUND', `branch ${id} not found`, { context: { branch_id: id } });
  }

  async listBranches(scope: InfraiScope, projectId: string | undefined): Promise<InfraiBranch[]> {
    const dbs = projectId === undefined ? await this.all(scope) : [await this.locate(scope, projectId, 'query.project_id')];
    const out: InfraiBranch[] = [];
    for (const l of dbs) for (const b of await this.deps.branches.list(l.project, l.view.name).catch(notFoundAsEmpty)) out.push(await this.branch(l, b));
    return out;
  }

  async deleteBranch(scope: InfraiScope, id: string): Promise<void> {
    const b = await this.getBranch(scope, id);
    const l = await this.locate(scope, b.project_id);
    await this.deps.branches.remove(l.project, l.view.name, id);
  }

  // --- snapshots ---

  async createSnapshot(scope: InfraiScope, input: { project_id: string; label?: string | undefined }): Promise<InfraiSnapshot> {
    const l = await this.locate(scope, input.project_id, 'body.project_id');
    return snapshot(l, await this.deps.backups.create(l.project, l.view.name, input.label ?? null));
  }

  async getSnapshot(scope: InfraiScope, id: string): Promise<InfraiSnapshot> {
    const found = await this.findSnapshot(scope, id);
    return snapshot(found.l, found.b);
  }

  async listSnapshots(scope: InfraiScope, projectId: string | undefined): Promise<InfraiSnapshot[]> {
    const dbs = projectId === undefined ? await this.all(scope) : [await this.locate(scope, projectId, 'query.project_id')];
    const out: InfraiSnapshot[] = [];
    for (const l of dbs) for (const b of await this.deps.backups.list(l.project, l.view.name).catch(notFoundAsEmpty)) out.push(snapshot(l, b));
    return out;
  }

  async restoreSnapshot(scope: InfraiScope, id: string, input: { new_name?: string | undefined }): Promise<InfraiProject> {
    const { l, b } = await this.findSnapshot(scope, id);
    if (b.status !== 'completed') {
      throw new PitrdError('CONFLICT', `snapshot ${id} is ${b.status}; it can be restored once it is completed`, { context: { snapshot_id: id, status: b.status } });
    }
    const wanted = input.new_name ?? `${this.displayName(l)}-restored`;
    const name = await this.freeName(l.project, wanted);
    const v = await this.deps.instances.restoreBackup({ projectId: l.project, name: l.view.name }, b.id, {
      projectId: l.project,
      name,
      ...(name !== wanted ? { displayName: wanted } : {}),
    });
    return this.project({ project: l.project, view: v });
  }

  // --- internals ---

  /** Where project.create puts a new instance for this token. */
  private async home(scope: InfraiScope): Promise<string> {
    if (scope.allProjects) {
      const existing = (await this.deps.projects.list()).find((p) => p.name === INFRAI_HOME_PROJECT);
      return (existing ?? (await this.deps.projects.create(INFRAI_HOME_PROJECT))).id;
    }
    const mine = await this.visibleProjects(scope);
    if (mine.length !== 1) {
      throw new PitrdError('FORBIDDEN', `this token is scoped to ${mine.length} projects; project.create needs a token of exactly one project (it goes there) or of every project ('*')`, {
        context: { projects: mine },
      });
    }
    return mine[0]!;
  }

  private async visibleProjects(scope: InfraiScope): Promise<string[]> {
    const all = (await this.deps.projects.list()).map((p) => p.id);
    if (scope.allProjects) return all;
    const exists = new Set(all);
    return scope.projects.filter((p) => exists.has(p) || this.deps.instances.isConfigProject(p));
  }

  private async all(scope: InfraiScope): Promise<Located[]> {
    const out: Located[] = [];
    for (const project of await this.visibleProjects(scope)) for (const view of await this.deps.instances.list(project)) out.push({ project, view });
    return out;
  }

  /** The database behind an infrai project id; PROJECT_NOT_FOUND (naming `field` when it came in a body or query). */
  private async locate(scope: InfraiScope, id: string, field?: string): Promise<Located> {
    const found = (await this.all(scope)).find((l) => l.view.id === id);
    if (found) return found;
    throw new PitrdError('PROJECT_NOT_FOUND', `${field !== undefined ? `${field}: ` : ''}project ${id} not found`, { context: { project_id: id } });
  }

  private async findSnapshot(scope: InfraiScope, id: string): Promise<{ l: Located; b: BackupView }> {
    for (const l of await this.all(scope)) {
      const b = (await this.deps.backups.list(l.project, l.view.name).catch(notFoundAsEmpty)).find((x) => x.id === id);
      if (b) return { l, b };
    }
    throw new PitrdError('SNAPSHOT_NOT_FOUND', `snapshot ${id} not found`, { context: { snapshot_id: id } });
  }

  /** A database name from a client's project name, unique in the pitrd project. */
  private async freeName(project: string, wanted: string): Promise<string> {
    const slug = wanted.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+/, '').replace(/-+$/, '').slice(0, 55) || 'project';
    const taken = new Set((await this.deps.instances.listByProject(project)).map((d) => d.name));
    if (!taken.has(slug)) return slug;
    for (let i = 2; ; i++) if (!taken.has(`${slug}-${i}`)) return `${slug}-${i}`;
  }

  private displayName(l: Located): string {
    return this.deps.instances.instanceOf(l.project, l.view.name)?.display_name ?? l.view.name;
  }

  private async project(l: Located): Promise<InfraiProject> {
    const inst = this.deps.instances.instanceOf(l.project, l.view.name);
    const v = l.view;
    let uri: string | null = null;
    if (!inst) uri = connectionString(v);
    else if (inst.status === 'running') uri = connectionString(await this.deps.instances.connection(l.project, v.name));
    return {
      id: v.id,
      name: this.displayName(l),
      region: v.region,
      connection_uri: uri,
      created_at: v.created_at,
      status: v.status,
      postgres_version: inst && inst.major > 0 ? String(inst.major) : null,
    };
  }

  private async branch(l: Located, b: BranchView): Promise<InfraiBranch> {
    const inst = this.deps.instances.instanceOf(l.project, l.view.name);
    // A branch is a copy of the instance: the client's role and password open it too.
    const uri = b.status === 'running' && b.port !== null && inst?.status === 'running' ? connectionString({ ...(await this.deps.instances.connection(l.project, l.view.name)), port: b.port }) : b.connection_uri;
    return { id: b.id, branch_name: b.branch_name, project_id: l.view.id, connection_uri: uri, status: b.status, created_at: b.created_at };
  }
}

function snapshot(l: Located, b: BackupView): InfraiSnapshot {
  return { id: b.id, project_id: l.view.id, label: b.label, created_at: b.created_at, status: b.status };
}

/** A database still provisioning (not yet registered) has no backups or branches yet. */
function notFoundAsEmpty(err: unknown): never[] {
  if (isPitrdError(err, 'DATABASE_NOT_FOUND')) return [];
  throw err;
}
