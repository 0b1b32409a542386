/** Rate-limit tier of a token (the API reference's Free and Pro tiers). */
export type Tier = 'free' | 'pro';
export const TIERS: readonly Tier[] = ['free', 'pro'];

/** A stored token: never the secret itself, only its sha256. */
export interface TokenRecord {
  id: string;
  name: string;
  /** Project ids this token may act on; ['*'] = every project (and creating projects). */
  projects: string[];
  tier: Tier;
  /** sha256 (hex) of the secret part. */
  hash: string;
  created_at: string;
  revoked_at?: string;
}

/** Who a request acts as, once its token is verified. */
export interface Principal {
  tokenId: string;
  name: string;
  projects: readonly string[];
  tier: Tier;
}

/** What the API needs from auth: turn a bearer token into a principal, or null (AUTH_REQUIRED). */
export interface TokenVerifier {
  verify(bearer: string): Promise<Principal | null>;
}

export function canAccessProject(p: Principal, projectId: string): boolean {
  return p.projects.includes('*') || p.projects.includes(projectId);
}

export function isAllProjects(p: Principal): boolean {
  return p.projects.includes('*');
}
