/**
 * The daemon's token check: FileTokenStore's answers, remembered per token until the tokens file
 * changes. The store looks at the file (an asynchronous stat) on every request so that `pitrd
 * token revoke` applies to the next request; that is a round trip through libuv's thread pool per
 * request, which on a loaded machine costs more scheduling delay than the rest of a status
 * request. Here the file is checked with a synchronous stat (microseconds on a local disk; the
 * tokens file is a local file next to the config) and the remembered answers are dropped as soon
 * as its inode, size or mtime differ, so a revocation still applies to the very next request.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Principal, TokenVerifier } from '../auth/index.js';

/** Answers kept at most (a client sending random tokens must not grow the map without end). */
const MAX_ENTRIES = 1_000;

export class FileSignatureCachedVerifier implements TokenVerifier {
  private signature: string | null = null;
  /** sha256(bearer) -> answer; the bearer itself is not kept. */
  private readonly answers = new Map<string, Principal | null>();

  constructor(
    private readonly path: string,
    private readonly inner: TokenVerifier,
  ) {}

  async verify(bearer: string): Promise<Principal | null> {
    const sig = this.fileSignature();
    if (sig !== this.signature) {
      this.answers.clear();
      this.signature = sig;
    }
    const key = createHash('sha256').update(bearer, 'utf8').digest('base64');
    const hit = this.answers.get(key);
    if (hit !== undefined) return hit;
    const answer = await this.inner.verify(bearer);
    // Only if the file did not change while the store read it (else the next request asks again).
    if (this.fileSignature() === sig) {
      if (this.answers.size >= MAX_ENTRIES) this.answers.clear();
      this.answers.set(key, answer === null ? null : Object.freeze({ ...answer, projects: Object.freeze([...answer.projects]) }));
    }
    return answer;
  }

  private fileSignature(): string {
    try {
      const s = statSync(this.path, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    } catch (err) {
      return `absent:${(err as NodeJS.ErrnoException).code ?? ''}`;
    }
  }
}
