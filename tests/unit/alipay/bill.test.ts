import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlipayBillError, downloadBill, openTradeBill, readTradeBill } from '../../../src/alipay/bill.js';
import { buildTradeBillZip, buildZip, detailFileText, type BillRowInput } from '../../../src/alipay/bill-writer.js';

const gbk = (s: string) => new Uint8Array(iconv.encode(s, 'gbk'));
const PID = '2088021109625633';
const BASE = `${PID}0156_20190916`;
const START = `#${'-'.repeat(41)}业务明细列表${'-'.repeat(40)}`;
const END = `#${'-'.repeat(41)}业务明细列表结束${'-'.repeat(36)}`;
const HEADER =
  '支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注';

// Written by hand, line by line, as Alipay exports it (id cells end with a tab).
function detailLines(overrides: { rows?: string[]; totals?: string[]; end?: string | null } = {}): string[] {
  const rows = overrides.rows ?? [
    '2019091622001477550500001234\t,T20190916_0001\t,交易,龙井绿茶 Longjing Tea,2019-09-16 10:00:00,2019-09-16 10:00:05,,,,,buy***@163.com,12.30,12.30,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.07,0.00,',
    '2019091622001477550500005678\t,T20190916_0002\t,交易,"Tea, green",2019-09-16 23:59:59,2019-09-16 23:59:59,,,,,buy***@163.com,0.01,0.01,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,0.00,0.00,',
    '2019091522001477550500009999\t,T20190915_0009\t,退款,红茶,2019-09-15 08:00:00,2019-09-16 12:00:00,,,,,buy***@163.com,-5.00,-5.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,R20190916_1\t,0.03,0.00,',
  ];
  const lines = [
    '#支付宝业务明细查询',
    `#账号：[${PID}0156]`,
    '#起始日期：[2019年09月16日 00:00:00]   终止日期：[2019年09月17日 00:00:00]',
    START,
    HEADER,
    ...rows,
  ];
  if (overrides.end !== null) lines.push(overrides.end ?? END);
  lines.push(
    ...(overrides.totals ?? ['#交易合计：2笔，商家实收共12.31元，商家优惠共0.00元', '#退款合计：1笔，商家实收退款共-5.00元，商家优惠退款共0.00元']),
    '#导出时间：[2019年09月17日 05:46:49]',
  );
  return lines;
}

function zipOf(lines: string[], opts: { utf8Names?: boolean } = {}): Uint8Array {
  const name = (s: string) => (opts.utf8Names ? new Uint8Array(Buffer.from(s, 'utf8')) : gbk(s));
  return buildZip([
    { name: name(`${BASE}_业务明细.csv`), data: gbk(`${lines.join('\r\n')}\r\n`), utf8Flag: opts.utf8Names ?? false },
    { name: name(`${BASE}_业务明细(汇总).csv`), data: gbk('#支付宝业务汇总查询\r\n'), utf8Flag: opts.utf8Names ?? false },
  ]);
}

function billError(fn: () => unknown): AlipayBillError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AlipayBillError);
    return err as AlipayBillError;
  }
  throw new Error('expected an AlipayBillError');
}

describe('readTradeBill', () => {
  it('reads payments and negative refund rows from GBK files with GBK names and no UTF-8 flag, trimming the trailing tabs', () => {
    const zip = zipOf(detailLines());
    // The first local header's general purpose flags: bit 11 (UTF-8) is clear, the name is GBK bytes.
    expect(Buffer.from(zip).readUInt16LE(6) & 0x0800).toBe(0);
    expect(Buffer.from(zip).subarray(30, 30 + gbk(`${BASE}_业务明细.csv`).length)).toEqual(Buffer.from(gbk(`${BASE}_业务明细.csv`)));

    const bill = readTradeBill(zip);
    expect(bill.account).toBe(`${PID}0156`);
    expect(bill.fileName).toBe(`${BASE}_业务明细.csv`);
    expect(bill.payments).toEqual({ count: 2, receivedFen: 1231 });
    expect(bill.refunds).toEqual({ count: 1, receivedFen: -500 });
    expect(bill.records).toHaveLength(3);
    expect(bill.records[0]).toEqual({
      kind: 'payment',
      tradeNo: '2019091622001477550500001234',
      outTradeNo: 'T20190916_0001',
      subject: '龙井绿茶 Longjing Tea',
      createdAt: new Date('2019-09-16T02:00:00.000Z'),
      finishedAt: new Date('2019-09-16T02:00:05.000Z'),
      orderAmountFen: 1230,
      receivedFen: 1230,
      line: 6,
    });
    expect(bill.records[1]?.subject).toBe('Tea, green');
    expect(bill.records[2]).toMatchObject({
      kind: 'refund',
      outTradeNo: 'T20190915_0009',
      orderAmountFen: -500,
      receivedFen: -500,
      outRequestNo: 'R20190916_1',
      createdAt: new Date('2019-09-15T00:00:00.000Z'),
      finishedAt: new Date('2019-09-16T04:00:00.000Z'),
    });
  });

  it('also reads entry names written in UTF-8 with the flag set', () => {
    expect(readTradeBill(zipOf(detailLines(), { utf8Names: true })).records).toHaveLength(3);
  });

  it('refuses totals that do not add up, naming the totals line', () => {
    const err = billError(() => readTradeBill(zipOf(detailLines({ totals: ['#交易合计：2笔，商家实收共12.32元，商家优惠共0.00元', '#退款合计：1笔，商家实收退款共-5.00元，商家优惠退款共0.00元'] }))));
    expect(err.line).toBe(10);
    expect(err.message).toContain('业务明细.csv line 10');
    expect(err.message).toContain('12.31');
  });

  it('refuses a refund count that does not match', () => {
    const err = billError(() => readTradeBill(zipOf(detailLines({ totals: ['#交易合计：2笔，商家实收共12.31元，商家优惠共0.00元', '#退款合计：2笔，商家实收退款共-5.00元，商家优惠退款共0.00元'] }))));
    expect(err.line).toBe(11);
  });

  it('refuses a file without the totals lines', () => {
    expect(billError(() => readTradeBill(zipOf(detailLines({ totals: [] })))).message).toContain('交易合计');
  });

  it('refuses a file without the end marker: truncated, never a partial result', () => {
    const err = billError(() => readTradeBill(zipOf(detailLines().slice(0, 8))));
    expect(err.message).toContain('no end marker');
    expect(err.line).toBeGreaterThan(8);
    const cut = detailLines().slice(0, 8);
    cut[7] = cut[7]!.slice(0, 60);
    expect(billError(() => readTradeBill(zipOf(cut))).line).toBe(8);
    expect(billError(() => readTradeBill(zipOf(detailLines({ end: null })))).message).toContain('is the end marker missing?');
  });

  it('refuses a row that is not well formed, naming its line', () => {
    const rows = detailLines().slice(5, 8);
    rows[1] = rows[1]!.replace(',0.01,0.01,', ',0.0x,0.01,');
    const err = billError(() => readTradeBill(zipOf(detailLines({ rows }))));
    expect(err.line).toBe(7);
    expect(err.message).toContain('订单金额');
  });

  it('refuses a refund row with a positive amount and an unknown 业务类型', () => {
    const rows = detailLines().slice(5, 8);
    const positive = [rows[0]!, rows[1]!, rows[2]!.replace(',-5.00,-5.00,', ',5.00,-5.00,')];
    expect(billError(() => readTradeBill(zipOf(detailLines({ rows: positive })))).line).toBe(8);
    const unknown = [rows[0]!.replace(',交易,', ',冻结,'), rows[1]!, rows[2]!];
    expect(billError(() => readTradeBill(zipOf(detailLines({ rows: unknown })))).message).toContain('业务类型');
  });

  it('refuses a changed header, naming the column', () => {
    const lines = detailLines();
    lines[4] = lines[4]!.replace('商家实收（元）', '实收');
    const err = billError(() => readTradeBill(zipOf(lines)));
    expect(err.line).toBe(5);
    expect(err.message).toContain('column 13');
  });

  it('refuses a truncated zip', () => {
    const zip = zipOf(detailLines());
    expect(billError(() => readTradeBill(zip.subarray(0, zip.length - 30))).message).toContain('damaged or truncated');
    expect(billError(() => readTradeBill(new Uint8Array([0x50, 0x4b, 3, 4]))).message).toContain('damaged or truncated');
  });

  it('refuses a zip without the detail file, or one that would inflate too far', () => {
    const other = buildZip([{ name: gbk(`${BASE}_业务明细(汇总).csv`), data: gbk('#') }]);
    expect(billError(() => readTradeBill(other)).message).toContain('业务明细.csv');
    expect(billError(() => readTradeBill(zipOf(detailLines()), { maxUncompressedBytes: 100 })).message).toContain('more than 100 bytes');
  });

  it('reads back what the writer makes (the sandbox and the benchmark use it)', () => {
    const rows: BillRowInput[] = [];
    const at = new Date('2026-11-26T02:00:00Z');
    for (let i = 0; i < 500; i++) {
      rows.push({ kind: 'payment', tradeNo: `2026112622001${String(i).padStart(15, '0')}`, outTradeNo: `O${i}`, subject: `货品 ${i}, "quoted"`, createdAt: at, finishedAt: at, amountFen: i + 1 });
    }
    rows.push({ kind: 'refund', tradeNo: '2026112622001000000000000000', outTradeNo: 'O0', subject: 'x', createdAt: at, finishedAt: at, amountFen: 1, outRequestNo: 'R1' });
    const input = { sellerId: PID, date: '2026-11-26', rows, exportedAt: new Date('2026-11-27T01:00:00Z') };
    const text = detailFileText(input);
    expect(text.split('\r\n')[2]).toBe('#起始日期：[2026年11月26日 00:00:00]   终止日期：[2026年11月27日 00:00:00]');
    expect(text).toContain('#交易合计：500笔，商家实收共1252.50元，商家优惠共0.00元');
    expect(text).toContain('#退款合计：1笔，商家实收退款共-0.01元，商家优惠退款共0.00元');
    const bill = readTradeBill(buildTradeBillZip(input));
    expect(bill.records).toHaveLength(501);
    expect(bill.records[3]?.subject).toBe('货品 3, "quoted"');
    expect(bill.records[500]).toMatchObject({ kind: 'refund', orderAmountFen: -1, outRequestNo: 'R1' });
  });
});

describe('openTradeBill (rows read as they are parsed)', () => {
  const bigBill = (rows: number) => {
    const at = new Date('2026-11-26T02:00:00Z');
    const list: BillRowInput[] = Array.from({ length: rows }, (_, i) => ({
      kind: 'payment' as const,
      tradeNo: `2026112622001${String(i).padStart(15, '0')}`,
      outTradeNo: `O${i}`,
      subject: '龙井绿茶',
      createdAt: at,
      finishedAt: at,
      amountFen: 100 + i,
    }));
    return buildTradeBillZip({ sellerId: PID, date: '2026-11-26', rows: list, exportedAt: at });
  };

  it('checks the preamble at once and yields the rows of a bill larger than one slice in order, then its totals', () => {
    const bill = openTradeBill(bigBill(5_000));
    expect(bill.account).toBe(`${PID}0156`);
    expect(bill.fileName).toBe(`${PID}0156_20261126_业务明细.csv`);
    expect(() => bill.totals()).toThrow(/once its records have been read/);
    let count = 0;
    for (const r of bill.records) {
      expect(r.outTradeNo).toBe(`O${count}`);
      count++;
    }
    expect(count).toBe(5_000);
    expect(bill.totals().payments.count).toBe(5_000);
    expect(() => readTradeBill(zipOf(['#not a bill']))).toThrow(/expected the title/);
  });

  it('yields the good rows before a bad one, then throws: a consumer must not take them as complete', () => {
    const lines = detailLines();
    lines[7] = lines[7]!.replace(',-5.00,-5.00,', ',5.00,-5.00,');
    const bill = openTradeBill(zipOf(lines));
    const seen: string[] = [];
    const err = billError(() => {
      for (const r of bill.records) seen.push(r.outTradeNo);
    });
    expect(seen).toEqual(['T20190916_0001', 'T20190916_0002']);
    expect(err.line).toBe(8);
  });

  it('refuses an entry that fails its CRC-32 or inflates to another size than the zip says', () => {
    const zip = zipOf(detailLines());
    const crcAt = zip.findIndex((_, i) => zip[i] === 0x50 && zip[i + 1] === 0x4b && zip[i + 2] === 1 && zip[i + 3] === 2) + 16;
    const badCrc = zip.slice();
    badCrc[crcAt] = badCrc[crcAt]! ^ 0xff;
    expect(billError(() => readTradeBill(badCrc)).message).toContain('CRC-32');
    const badSize = zip.slice();
    badSize[crcAt + 8] = badSize[crcAt + 8]! - 1;
    expect(billError(() => readTradeBill(badSize)).message).toContain('damaged or truncated');
  });
});

describe('downloadBill', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/ok') res.end(Buffer.alloc(1000, 1));
      else if (req.url === '/big') {
        res.write(Buffer.alloc(600, 1));
        res.end(Buffer.alloc(600, 1));
      } else if (req.url === '/same-host') res.writeHead(302, { location: '/ok' }).end();
      else if (req.url === '/other-host') res.writeHead(302, { location: `http://localhost:${port}/ok` }).end();
      else if (req.url === '/slow') setTimeout(() => res.end('late'), 2000);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const url = (p: string) => `http://127.0.0.1:${port}${p}`;

  it('fetches the bytes, following a redirect on the same host', async () => {
    expect((await downloadBill(url('/ok'))).length).toBe(1000);
    expect((await downloadBill(url('/same-host'))).length).toBe(1000);
  });

  it('refuses a redirect to another host than the signed answer named', async () => {
    await expect(downloadBill(url('/other-host'))).rejects.toThrow(/another host/);
  });

  it('stops at the size limit and at the time limit', async () => {
    await expect(downloadBill(url('/big'), { maxBytes: 1000 })).rejects.toThrow(/limit of 1000 bytes/);
    await expect(downloadBill(url('/slow'), { timeoutMs: 200 })).rejects.toThrow(/longer than 200 ms/);
    await expect(downloadBill(url('/missing'))).rejects.toThrow(/HTTP 404/);
    await expect(downloadBill('file:///etc/passwd')).rejects.toThrow(/not http/);
  });
});
