import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();

const NAMES = [
  '龙井绿茶 Longjing Green Tea',
  'Ceramic Tea Cup 陶瓷茶杯',
  'Mechanical Keyboard 机械键盘',
  'ÉCLAIR au Café',
  '100% Cotton_Towel \\ back\\slash',
  'Tab\tseparated  double  space',
  'x',
];

beforeAll(async () => {
  await t.db.goods.createMany({ data: NAMES.map((name, i) => ({ name, priceFen: 100 + i })) });
});

describe('catalog search index (goods_name_grams)', () => {
  it('a substring of 1, 2 or 3+ characters, Chinese too, is looked up in the index rather than by reading the table', async () => {
    // The embedded cluster has the C locale, where pg_trgm extracts no trigram from Chinese.
    for (const q of ['茶', '龙井', '龙井绿', 'k', 'Ke', 'Keyboard']) {
      const plan = await t.db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe('SET LOCAL enable_seqscan = off');
        return tx.$queryRawUnsafe<{ 'QUERY PLAN': string }[]>(
          `EXPLAIN SELECT id FROM goods WHERE goods_name_grams(name) @> goods_query_grams($1)`,
          q,
        );
      });
      expect(plan.map((r) => r['QUERY PLAN']).join('\n'), q).toContain('goods_name_grams_idx');
      // What the index is asked for is selective: never "every row".
      const [grams] = await t.sql<{ g: string[] }>('SELECT goods_query_grams($1) AS g', [q]);
      expect(grams!.g.length, q).toBeGreaterThan(0);
    }
  });

  it('never loses a match: every substring of every name, in every case, finds its goods through the index', async () => {
    // Enumerates all substrings of 1–6 characters (and their upper/lower case forms) of the names.
    const [result] = await t.sql<{ pairs: number; missed: string[] }>(`
      WITH subs AS (
        SELECT DISTINCT v.q FROM goods, generate_series(1, char_length(name)) AS i, generate_series(1, 6) AS len,
             LATERAL (VALUES (substr(name, i, len)), (upper(substr(name, i, len))), (lower(substr(name, i, len)))) AS v(q)
        WHERE btrim(v.q) <> ''
      )
      SELECT count(*)::int AS pairs,
             coalesce(array_agg(s.q || ' in ' || g.name) FILTER (WHERE NOT goods_name_grams(g.name) @> goods_query_grams(btrim(s.q))), '{}') AS missed
      FROM subs s JOIN goods g
        ON g.name ILIKE '%' || replace(replace(replace(btrim(s.q), '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'`);
    expect(result!.missed).toEqual([]);
    expect(result!.pairs).toBeGreaterThan(1000);
  });

  it('narrows to the goods holding the pieces of the query', async () => {
    const candidates = async (q: string) =>
      (await t.sql<{ name: string }>('SELECT name FROM goods WHERE goods_name_grams(name) @> goods_query_grams($1) ORDER BY id', [q])).map((r) => r.name);
    expect(await candidates('茶杯')).toEqual(['Ceramic Tea Cup 陶瓷茶杯']);
    expect(await candidates('键')).toEqual(['Mechanical Keyboard 机械键盘']);
    expect(await candidates('ÉCL')).toEqual(['ÉCLAIR au Café']);
    expect(await candidates('nothing like it')).toEqual([]);
  });
});
