export { FileTokenStore } from './token-store.js';
export type { CreateTokenInput, CreatedToken } from './token-store.js';
export { formatToken, parseToken, hashSecret, TOKEN_PATTERN, TOKEN_PREFIX } from './token-format.js';
export { TIERS, canAccessProject, isAllProjects } from './types.js';
export type { Principal, Tier, TokenRecord, TokenVerifier } from './types.js';
export { writeFileAtomic } from './atomic-file.js';
