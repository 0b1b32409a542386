import type { Project, ProjectStore } from './types.js';

/**
 * The projects of the configuration file (`databases[].project`, `default` unless set) as real
 * projects: listed, gettable and scoped by tokens like the API's own. The first time the daemon
 * sees one it records it in the project store (`adopt`), so its `created_at` is a stable instant
 * and cursor pages do not shift between daemon restarts. While the file names it, it is marked
 * `source: "config"` and cannot be deleted through the API (the file would bring it back at the
 * next start); once the file stops naming it, it is an ordinary project.
 */
export class ConfigProjectStore implements ProjectStore {
  private readonly adopted = new Set<string>();

  constructor(
    private readonly inner: ProjectStore,
    private readonly configIds: ReadonlySet<string>,
  ) {}

  isConfigProject(id: string): boolean {
    return this.configIds.has(id);
  }

  /** Records the file's projects not yet in the store; called lazily, so a storage outage at start does not stop the daemon. */
  private async adoptMissing(stored: Project[]): Promise<Project[]> {
    const out = [...stored];
    for (const id of this.configIds) {
      if (this.adopted.has(id)) continue;
      if (!stored.some((p) => p.id === id)) out.push(await this.inner.adopt(id, id));
      this.adopted.add(id);
    }
    return out;
  }

  private mark(p: Project): Project {
    return { ...p, source: this.configIds.has(p.id) ? 'config' : 'api' };
  }

  async list(): Promise<Project[]> {
    return (await this.adoptMissing(await this.inner.list())).map((p) => this.mark(p));
  }

  async get(id: string): Promise<Project | null> {
    if (this.configIds.has(id) && !this.adopted.has(id)) await this.list();
    const p = await this.inner.get(id);
    return p ? this.mark(p) : null;
  }

  async create(name: string): Promise<Project> {
    return this.mark(await this.inner.create(name));
  }

  adopt(id: string, name: string): Promise<Project> {
    return this.inner.adopt(id, name);
  }

  delete(id: string): Promise<boolean> {
    return this.inner.delete(id);
  }
}
