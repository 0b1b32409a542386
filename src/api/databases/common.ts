import { z } from 'zod';
import { canAccessProject, type Principal } from '../../auth/index.js';
import { PitrdError } from '../../errors.js';
import { principalOf, projectIdParam, type ProjectStore } from '../projects/index.js';
import type { DatabaseService } from './types.js';

export { principalOf, projectIdParam };
export const databaseNameParam = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
  error: 'expected 1-63 characters of a-z, 0-9, "_" or "-", starting with a letter or digit',
});
export const dbParams = z.strictObject({ project_id: projectIdParam, name: databaseNameParam });


/**
 * Same rule as the projects routes: a project outside the token's scope is PROJECT_NOT_FOUND,
 * exactly like a missing one, so a token cannot probe which project ids exist.
 */
export async function assertProjectVisible(projects: ProjectStore, databases: DatabaseService, principal: Principal | null, projectId: string): Promise<void> {
  const p = principalOf(principal);
  const visible = canAccessProject(p, projectId) && (databases.isConfigProject(projectId) || (await projects.get(projectId)) !== null);
  if (!visible) throw new PitrdError('PROJECT_NOT_FOUND', `project ${projectId} not found`, { context: { project_id: projectId } });
}

/** Routes without query parameters still refuse unknown ones (e.g. `?reveal=true`: passwords are never shown). */
export const noQuery = z.strictObject({});
