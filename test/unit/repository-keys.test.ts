import { describe, expect, it } from 'vitest';
import { DatabaseKeys } from '../../src/repository/keys.js';

describe('repository layout: the retention objects are keyed in keys.ts', () => {
  it('keeps the keys docs/repository-format.md names (repositories already written hold them)', () => {
    const k = new DatabaseKeys({ project: 'acme', name: 'main' });
    expect(k.retentionJournal).toBe('projects/acme/databases/main/retention/expiry-in-progress.json');
    expect(k.retentionReport).toBe('projects/acme/databases/main/retention/last-report.json');
  });
});
