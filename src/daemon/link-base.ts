/**
 * The base URL of the links the API hands out (signed download URLs). A link must name an
 * address clients can reach and never the wildcard the daemon is bound to (`http://0.0.0.0:7432`
 * tells a client nothing and discloses the bind). In order:
 * 1. `api.public_url` (config): the operator knows how clients reach the daemon (a proxy, TLS).
 * 2. the bound address when it is a specific one: it is reachable as it is.
 * 3. bound to a wildcard: the request's Host header, if it is a well-formed host[:port]. The
 *    link goes back only to the client that sent that Host, in this one response, so a forged
 *    Host can only mislead its own sender; anything malformed falls back to 4.
 * 4. the loopback address on the bound port.
 */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?$/;
const WILDCARDS = new Set(['0.0.0.0', '::', '::0', '0:0:0:0:0:0:0:0', '']);

export interface LinkBaseOptions {
  publicUrl?: string | undefined;
  /** The address and port the API is bound to (server.address()). */
  bound: { address: string; port: number; family: string };
}

export function isWildcardAddress(address: string): boolean {
  return WILDCARDS.has(address);
}

export function linkBase(opts: LinkBaseOptions, hostHeader?: string): string {
  if (opts.publicUrl !== undefined) return opts.publicUrl.replace(/\/+$/, '');
  const { address, port, family } = opts.bound;
  if (!isWildcardAddress(address)) return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  if (hostHeader !== undefined) {
    const m = HOST_HEADER.exec(hostHeader);
    const host = m?.[1]?.replace(/^\[|\]$/g, '');
    if (m && host !== undefined && !isWildcardAddress(host) && (m[2] === undefined || Number(m[2]) <= 65535)) return `http://${hostHeader}`;
  }
  return `http://${family === 'IPv6' ? '[::1]' : '127.0.0.1'}:${port}`;
}
