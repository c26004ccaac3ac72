import { describe, expect, it } from 'vitest';
import { formatYuan, formatYuanSql } from '../../src/lib/money.js';
import { useTestDatabase } from '../support/db.js';

// The CSV export and the reconciliation details format money inside PostgreSQL: the same text as formatYuan.
const t = useTestDatabase();

describe('formatYuanSql', () => {
  it('writes what formatYuan writes, for integer and bigint fen', async () => {
    const values = [0, 1, 5, 10, 99, 100, 101, 1230, 199900, 123456789, Number.MAX_SAFE_INTEGER];
    for (const type of ['int8', 'numeric']) {
      const rows = await t.sql<{ text: string }>(`SELECT ${formatYuanSql('v')} AS text FROM unnest($1::${type}[]) WITH ORDINALITY AS x(v, i) ORDER BY i`, [values.map(String)]);
      expect(rows.map((r) => r.text)).toEqual(values.map(formatYuan));
    }
    const [int4] = await t.sql<{ text: string }>(`SELECT ${formatYuanSql('$1::int4')} AS text`, [1230]);
    expect(int4!.text).toBe('12.30');
  });
});
