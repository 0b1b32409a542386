import { timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { errorMessage, PitrdError } from '../errors.js';
import { formatIssuePath } from '../zod-issues.js';
import { writeFileAtomic } from './atomic-file.js';
import { formatToken, hashSecret, newTokenId, newTokenSecret, parseToken } from './token-format.js';
import { TIERS, type Principal, type Tier, type TokenRecord, type TokenVerifier } from './types.js';

const RecordSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{12}$/),
  name: z.string(),
  projects: z.array(z.string().min(1)).min(1),
  tier: z.enum(TIERS as [Tier, ...Tier[]]),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  created_at: z.string(),
  revoked_at: z.string().optional(),
});
const FileSchema = z.strictObject({ version: z.literal(1), tokens: z.array(RecordSchema) });
type TokensFile = z.infer<typeof FileSchema>;

export interface CreateTokenInput {
  name: string;
  projects: string[];
  tier?: Tier;
}

export interface CreatedToken {
  record: TokenRecord;
  /** The full bearer token: shown once, never stored. */
  token: string;
}

/**
 * API tokens in a JSON file (0600) managed by the CLI and read by the daemon. The daemon
 * re-reads the file when its mtime/size/inode change, so `pitrd token revoke` takes effect on the
 * next request without a restart.
 *
 * Writers (the CLI) are expected to be run by one operator at a time: two concurrent `token
 * create` runs could lose one another's record (each write is atomic, the read-modify-write is not).
 */
export class FileTokenStore implements TokenVerifier {
  private cache: { sig: string; byId: Map<string, TokenRecord> } | null = null;

  constructor(readonly path: string, private readonly now: () => Date = () => new Date()) {}

  private async readFileData(): Promise<TokensFile> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, tokens: [] };
      throw new PitrdError('CONFIG_INVALID', `cannot read tokens file ${this.path}: ${errorMessage(err)}`, { context: { path: this.path }, cause: err });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new PitrdError('CONFIG_INVALID', `tokens file ${this.path} is not valid JSON`, { context: { path: this.path }, cause: err });
    }
    const parsed = FileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new PitrdError('CONFIG_INVALID', `tokens file ${this.path} is malformed at ${issue ? formatIssuePath(issue.path) : '(root)'}: ${issue?.message ?? 'invalid'}`, { context: { path: this.path } });
    }
    return parsed.data;
  }

  private async write(data: TokensFile): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path, `${JSON.stringify(data, null, 2)}\n`);
    this.cache = null;
  }

  async list(): Promise<TokenRecord[]> {
    return (await this.readFileData()).tokens;
  }

  async create(input: CreateTokenInput): Promise<CreatedToken> {
    if (input.projects.length === 0) throw new PitrdError('VALIDATION_ERROR', 'a token needs at least one project id, or "*" for every project');
    const data = await this.readFileData();
    let id = newTokenId();
    while (data.tokens.some((t) => t.id === id)) id = newTokenId();
    const secret = newTokenSecret();
    const record: TokenRecord = {
      id,
      name: input.name,
      projects: [...new Set(input.projects)],
      tier: input.tier ?? 'free',
      hash: hashSecret(secret),
      created_at: this.now().toISOString(),
    };
    data.tokens.push(record);
    await this.write(data);
    return { record, token: formatToken(id, secret) };
  }

  /** Marks a token revoked (kept for the audit trail). NOT_FOUND for an unknown id. */
  async revoke(id: string): Promise<TokenRecord> {
    const data = await this.readFileData();
    const record = data.tokens.find((t) => t.id === id);
    if (!record) throw new PitrdError('NOT_FOUND', `no API token with id ${id} in ${this.path}`, { context: { id } });
    if (record.revoked_at === undefined) {
      record.revoked_at = this.now().toISOString();
      await this.write(data);
    }
    return record;
  }

  private async byId(): Promise<Map<string, TokenRecord>> {
    let sig = 'absent';
    try {
      const s = await stat(this.path);
      sig = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      /* absent: no tokens */
    }
    if (this.cache?.sig === sig) return this.cache.byId;
    const data = await this.readFileData();
    const byId = new Map(data.tokens.map((t) => [t.id, t]));
    this.cache = { sig, byId };
    return byId;
  }

  async verify(bearer: string): Promise<Principal | null> {
    const parsed = parseToken(bearer);
    if (!parsed) return null;
    const record = (await this.byId()).get(parsed.id);
    if (!record || record.revoked_at !== undefined) return null;
    // Hashes have a fixed length, so timingSafeEqual never throws and leaks nothing about the secret.
    const presented = Buffer.from(hashSecret(parsed.secret), 'hex');
    const stored = Buffer.from(record.hash, 'hex');
    if (!timingSafeEqual(presented, stored)) return null;
    return { tokenId: record.id, name: record.name, projects: record.projects, tier: record.tier };
  }
}
