/**
 * The event index for the API (GET …/pitr/events): the database's indexed events, read from the
 * repository (the catalog thread keeps the index current as it summarises newly archived WAL).
 */
import type { EventQueryParams, EventService, EventView } from '../api/pitr/index.js';
import { parseEventQuery, queryEvents } from '../catalog/index.js';
import type { Repository } from '../repository/index.js';
import type { DatabaseEntry } from './entry.js';

export class EventIndex implements EventService {
  constructor(
    private readonly repo: Repository,
    private readonly lookup: (projectId: string, name: string) => DatabaseEntry,
    private readonly largeChangeRows: number,
  ) {}

  async events(projectId: string, name: string, q: EventQueryParams): Promise<EventView[]> {
    const query = parseEventQuery({ kind: q.kind, relation: q.relation, from: q.from, to: q.to, minRows: q.min_rows }, this.largeChangeRows, {
      kind: 'query.kind', relation: 'query.relation', from: 'query.from', to: 'query.to', minRows: 'query.min_rows',
    });
    const e = this.lookup(projectId, name);
    return queryEvents(this.repo.database(e), query);
  }
}
