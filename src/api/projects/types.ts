/** A project: the namespace databases, backups and restores live in (the API reference's). */
export interface Project {
  id: string;
  name: string;
  created_at: string;
  /** `config`: named by the configuration file's databases (cannot be deleted through the API); `api`: created through it. */
  source?: 'api' | 'config';
}

export interface ProjectStore {
  list(): Promise<Project[]>;
  /** null when absent. */
  get(id: string): Promise<Project | null>;
  /** CONFLICT when the name is taken. */
  create(name: string): Promise<Project>;
  /** Records a project whose id is given (the configuration file's); returns the existing one if present. */
  adopt(id: string, name: string): Promise<Project>;
  /** false when absent. */
  delete(id: string): Promise<boolean>;
}

/**
 * What the projects routes need from the database registry (owned by the daemon/config side):
 * the databases registered under a project, so a project is never deleted from under them.
 */
export interface DatabaseRegistry {
  listByProject(projectId: string): Promise<Array<{ name: string }>>;
}
