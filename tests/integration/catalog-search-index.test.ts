import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();

describe('catalog search index', () => {
  it('a substring search on the name of 3+ characters (Chinese too) can use the trigram index instead of scanning the table', async () => {
    for (const pattern of ['%龙井茶%', '%Keyboard%']) {
      // With sequential scans priced out, the plan shows whether the index can answer ILIKE '%q%'.
      const plan = await t.db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe('SET LOCAL enable_seqscan = off');
        return tx.$queryRawUnsafe<{ 'QUERY PLAN': string }[]>(`EXPLAIN SELECT id FROM goods WHERE name ILIKE $1`, pattern);
      });
      expect(plan.map((r) => r['QUERY PLAN']).join('\n'), pattern).toContain('goods_name_trgm_idx');
    }
  });
});
