import type { AddressInfo } from 'node:net';
import { Agent, request as httpRequest } from 'node:http';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placeOrder } from '../../src/shop/orders.js';
import { notifyFields, signAsAlipay } from '../support/alipay.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

// FUZZ_RUNS=100000 FUZZ_SEED=7 npx vitest run tests/integration/notify-fuzz.test.ts for a longer run.
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 10_000);
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261127);

const t = useTestDatabase();

/** mulberry32: a small seeded PRNG, so a failing body can be reproduced from the seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(list: readonly T[]): T => list[int(list.length)]! };
}

const CONTENT_TYPES = [
  'application/x-www-form-urlencoded; text/html; charset=utf-8',
  'application/x-www-form-urlencoded; charset=GBK',
  'application/x-www-form-urlencoded; charset=klingon',
  'application/json',
  'multipart/form-data; boundary=x',
  'text/plain',
  'application/octet-stream',
  '',
  'x/y; charset=',
];
const ODD = ['%', '%Z', '%ZZ', '%C3', '%C3%28', '%FF%FE', '%00', '\u0000', '+', '&&', '==', '=', '&=&', '%E4%B8', '中文', '\uD800', '\r\n', ';', '"', "'", '<script>'];

let app: ReturnType<typeof buildApp>;
let port: number;
let server: ReturnType<ReturnType<typeof buildApp>['listen']>;
const agent = new Agent({ keepAlive: true, maxSockets: 8 });
let orders: { outTradeNo: string; totalFen: number }[] = [];
// Signing costs ~1 ms: signed bodies are made once, then mutated.
let signedPool: string[] = [];
let mutatedPool: string[] = [];

beforeAll(async () => {
  const goodsId = (await t.db.goods.create({ data: { name: 'Fuzzed tea', priceFen: 1_900 } })).id;
  orders = await Promise.all([1, 2, 3].map(() => placeOrder(t.db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes: 30 })));
  const r = prng(SEED + 1);
  signedPool = Array.from({ length: 30 }, (_, i) => {
    const order = orders[i % orders.length]!;
    return signAsAlipay(notifyFields({ ...order, totalFen: order.totalFen + 1 + r.int(1000) }));
  });
  mutatedPool = Array.from({ length: 60 }, (_, i) => {
    const order = orders[i % orders.length]!;
    const fields = notifyFields({ ...order, totalFen: order.totalFen + 1 });
    fields[r.pick(Object.keys(fields))] = r.pick([...ODD, '', '9'.repeat(40), '-1', '1e309', 'NaN', '0.001', '2026-13-45 25:61:61']);
    try {
      return signAsAlipay(fields);
    } catch {
      return new URLSearchParams(fields).toString();
    }
  });
  app = buildApp(t.db);
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  agent.destroy();
  await new Promise((resolve) => server.close(resolve));
});

function post(body: Buffer, contentType: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path: '/alipay/notify', method: 'POST', agent, headers: { ...(contentType ? { 'Content-Type': contentType } : {}), 'Content-Length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function generate(r: ReturnType<typeof prng>): Buffer {
  // A notification that verifies only when untouched — and even then is refused (wrong amount), so no body may change state.
  const order = r.pick(orders);
  const valid = () => r.pick(signedPool);
  switch (r.int(8)) {
    case 0: {
      const bytes = Buffer.alloc(r.int(4096));
      for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(256);
      return bytes;
    }
    case 1: {
      const v = valid();
      return Buffer.from(v.slice(0, r.int(v.length)));
    }
    case 2: {
      const v = valid();
      const at = r.int(v.length);
      return Buffer.from(v.slice(0, at) + r.pick(ODD) + v.slice(at + r.int(3)));
    }
    case 3: {
      const v = valid();
      const pairs = v.split('&');
      const dup = r.pick(pairs);
      pairs.splice(r.int(pairs.length), 0, dup.replace(/=.*/, `=${r.pick(ODD)}`));
      return Buffer.from(pairs.join('&'));
    }
    case 4:
      return iconv.encode(`charset=GBK&out_trade_no=${order.outTradeNo}&subject=中文商品&sign=${r.pick(ODD)}&trade_status=TRADE_SUCCESS`, r.pick(['gbk', 'utf8', 'utf16le', 'latin1']));
    case 5:
      return Buffer.from(`out_trade_no=${order.outTradeNo}&huge=${'A'.repeat(r.pick([10_000, 100_000, 250_000, 300_000]))}&sign=AAAA`);
    case 6: {
      return Buffer.from(r.pick(mutatedPool));
    }
    default:
      return Buffer.from(Array.from({ length: r.int(30) }, () => `${r.pick(ODD)}${r.int(1e6)}=${r.pick(ODD)}`).join(r.pick(['&', '&&', ';'])));
  }
}

describe('POST /alipay/notify fuzzed', () => {
  it(`${RUNS} generated bodies (seed ${SEED}): no 5xx, no state change, the app keeps answering`, async () => {
    const r = prng(SEED);
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    const queue = Array.from({ length: RUNS }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
          const body = generate(r);
          const status = await post(body, r.pick(CONTENT_TYPES));
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status >= 500 && bad.length < 5) bad.push(`#${i}: ${status} ${body.toString('latin1').slice(0, 200)}`);
        }
      }),
    );
    expect(bad).toEqual([]);
    expect([...statuses.keys()].every((s) => s === 400 || s === 413)).toBe(true);
    for (const o of orders) expect((await t.db.order.findUniqueOrThrow({ where: { outTradeNo: o.outTradeNo } })).status).toBe('UNPAID');
    expect(await t.db.paymentEvent.count({ where: { outcome: { not: 'rejected' } } })).toBe(0);
    expect(await post(Buffer.from('still=alive'), 'text/plain')).toBe(400);
  }, 600_000);
});
