import type { ListOptions, ListPage, ObjectInfo } from './types.js';

/** Every key under a prefix, following a driver's one-page `list` (shared by all drivers). */
export async function* listAllPages(list: (prefix: string, opts?: ListOptions) => Promise<ListPage>, prefix: string): AsyncIterable<ObjectInfo> {
  let token: string | undefined;
  do {
    const page = await list(prefix, token === undefined ? {} : { token });
    yield* page.objects;
    token = page.nextToken;
  } while (token !== undefined);
}
