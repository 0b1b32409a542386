import type { DatabaseRegistry } from './types.js';

/** In-memory DatabaseRegistry until the daemon provides the real one (also used by tests). */
export class MemoryDatabaseRegistry implements DatabaseRegistry {
  private readonly byProject = new Map<string, Set<string>>();

  add(projectId: string, name: string): void {
    let s = this.byProject.get(projectId);
    if (!s) this.byProject.set(projectId, (s = new Set()));
    s.add(name);
  }

  remove(projectId: string, name: string): void {
    this.byProject.get(projectId)?.delete(name);
  }

  async listByProject(projectId: string): Promise<Array<{ name: string }>> {
    return [...(this.byProject.get(projectId) ?? [])].sort().map((name) => ({ name }));
  }
}
