import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isPitrdError, PitrdError } from '../errors.js';
import { PROJECTS_KEY } from '../repository/index.js';
import type { ObjectStore } from '../storage/index.js';
import type { Project, ProjectStore } from '../api/projects/index.js';

const FileSchema = z.object({
  version: z.literal(1),
  projects: z.array(z.object({ id: z.string(), name: z.string(), created_at: z.string() })),
});
type ProjectsFile = z.infer<typeof FileSchema>;

export function newProjectId(): string {
  return `proj_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').toLowerCase()}`;
}

/**
 * Projects as one JSON object in the repository's object store (so they survive the host, like
 * everything else). Reads go to the store every time: another daemon may have written. Writes in
 * this process are serialised; two daemons creating projects at the same instant could lose one
 * (acceptable for an admin operation; a conditional put would close it).
 */
export class ObjectStoreProjectStore implements ProjectStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: ObjectStore,
    readonly key = PROJECTS_KEY,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async load(): Promise<ProjectsFile> {
    let buf: Buffer;
    try {
      buf = await this.store.getBuffer(this.key);
    } catch (err) {
      if (isPitrdError(err, 'OBJECT_NOT_FOUND')) return { version: 1, projects: [] };
      throw err;
    }
    const parsed = FileSchema.safeParse(JSON.parse(buf.toString('utf8')));
    if (!parsed.success) throw new PitrdError('REPO_INVALID', `projects object ${this.key} in ${this.store.location} is malformed`, { context: { key: this.key } });
    return parsed.data;
  }

  private async save(data: ProjectsFile): Promise<void> {
    await this.store.put(this.key, Buffer.from(`${JSON.stringify(data, null, 2)}\n`));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async list(): Promise<Project[]> {
    return (await this.load()).projects;
  }

  async get(id: string): Promise<Project | null> {
    return (await this.load()).projects.find((p) => p.id === id) ?? null;
  }

  create(name: string): Promise<Project> {
    return this.exclusive(async () => {
      const data = await this.load();
      const taken = data.projects.find((p) => p.name === name);
      if (taken) throw new PitrdError('CONFLICT', `a project named "${name}" already exists (${taken.id})`, { context: { name, id: taken.id } });
      let id = newProjectId();
      while (data.projects.some((p) => p.id === id)) id = newProjectId();
      const project: Project = { id, name, created_at: this.now().toISOString() };
      data.projects.push(project);
      await this.save(data);
      return project;
    });
  }

  adopt(id: string, name: string): Promise<Project> {
    return this.exclusive(async () => {
      const data = await this.load();
      const existing = data.projects.find((p) => p.id === id);
      if (existing) return existing;
      const project: Project = { id, name, created_at: this.now().toISOString() };
      data.projects.push(project);
      await this.save(data);
      return project;
    });
  }

  delete(id: string): Promise<boolean> {
    return this.exclusive(async () => {
      const data = await this.load();
      const i = data.projects.findIndex((p) => p.id === id);
      if (i < 0) return false;
      data.projects.splice(i, 1);
      await this.save(data);
      return true;
    });
  }
}
