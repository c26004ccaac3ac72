import { crc32 } from 'node:zlib';
import { deflateSync } from 'fflate';
import iconv from 'iconv-lite';
import {
  DETAIL_COLUMNS,
  DETAIL_END,
  DETAIL_START,
  DETAIL_SUFFIX,
  DETAIL_TITLE,
  KIND_PAYMENT,
  KIND_REFUND,
  SUMMARY_COLUMNS,
  SUMMARY_END,
  SUMMARY_START,
  SUMMARY_SUFFIX,
  SUMMARY_TITLE,
  chineseDate,
  signedAmount,
} from './bill-format.js';
import { formatAlipayTime } from './time.js';

// Plays Alipay: builds a trade bill zip byte for byte in the real format (the sandbox serves it,
// tests and benchmarks feed it to the reader).

export interface BillRowInput {
  kind: 'payment' | 'refund';
  tradeNo: string;
  outTradeNo: string;
  subject: string;
  createdAt: Date;
  finishedAt: Date;
  /** Positive fen; written negative for refunds. */
  amountFen: number;
  outRequestNo?: string;
  buyerLogonId?: string;
}

export interface TradeBillInput {
  /** 16-digit seller id (pid); the account is pid + "0156". */
  sellerId: string;
  /** "2026-11-26" (a day) */
  date: string;
  rows: BillRowInput[];
  exportedAt: Date;
}

export interface ZipEntry {
  /** Raw name bytes (GBK for Alipay's bills). */
  name: Uint8Array;
  data: Uint8Array;
  utf8Flag?: boolean;
}

/** A zip of deflated entries, names written as given (no UTF-8 flag unless asked): what fflate's zipSync cannot do. */
export function buildZip(entries: ZipEntry[], mtime = new Date(Date.UTC(2026, 0, 1))): Uint8Array {
  const dosTime = (mtime.getUTCHours() << 11) | (mtime.getUTCMinutes() << 5) | (mtime.getUTCSeconds() >> 1);
  const dosDate = ((mtime.getUTCFullYear() - 1980) << 9) | ((mtime.getUTCMonth() + 1) << 5) | mtime.getUTCDate();
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const compressed = deflateSync(e.data, { level: 6 });
    const crc = crc32(e.data) >>> 0;
    const flag = e.utf8Flag ? 0x0800 : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flag, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(e.name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flag, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(e.name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, Buffer.from(e.name), Buffer.from(compressed));
    centrals.push(central, Buffer.from(e.name));
    offset += 30 + e.name.length + compressed.length;
  }
  const centralSize = centrals.reduce((s, b) => s + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, ...centrals, end]));
}

/** "2026-11-26" → the header's range: that day 00:00:00 to the next day 00:00:00. */
function headerRange(date: string): string {
  const next = new Date(`${date}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  const to = next.toISOString().slice(0, 10);
  return `#起始日期：[${chineseDate(date)} 00:00:00]   终止日期：[${chineseDate(to)} 00:00:00]`;
}

function exportedLine(at: Date): string {
  const t = formatAlipayTime(at);
  return `#导出时间：[${chineseDate(t.slice(0, 10))} ${t.slice(11)}]`;
}

// Cells Alipay would quote; subjects are the only free text.
function csvCell(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The 业务明细 file's text (before GBK encoding), lines joined with \r\n. */
export function detailFileText(input: TradeBillInput): string {
  const account = `${input.sellerId}0156`;
  const lines = [DETAIL_TITLE, `#账号：[${account}]`, headerRange(input.date), DETAIL_START, DETAIL_COLUMNS.join(',')];
  let payCount = 0;
  let payFen = 0;
  let refundCount = 0;
  let refundFen = 0;
  for (const r of input.rows) {
    const signed = r.kind === 'refund' ? -r.amountFen : r.amountFen;
    if (r.kind === 'refund') {
      refundCount++;
      refundFen += signed;
    } else {
      payCount++;
      payFen += signed;
    }
    const amount = signedAmount(signed);
    lines.push(
      [
        `${r.tradeNo}\t`,
        `${r.outTradeNo}\t`,
        r.kind === 'refund' ? KIND_REFUND : KIND_PAYMENT,
        csvCell(r.subject),
        formatAlipayTime(r.createdAt),
        formatAlipayTime(r.finishedAt),
        '',
        '',
        '',
        '',
        r.buyerLogonId ?? '',
        amount,
        amount,
        '0.00',
        '0.00',
        '0.00',
        '0.00',
        '0.00',
        '',
        '0.00',
        '0.00',
        r.kind === 'refund' ? `${r.outRequestNo ?? r.outTradeNo}\t` : '',
        '0.00',
        '0.00',
        '',
      ].join(','),
    );
  }
  lines.push(
    DETAIL_END,
    `#交易合计：${payCount}笔，商家实收共${signedAmount(payFen)}元，商家优惠共0.00元`,
    `#退款合计：${refundCount}笔，商家实收退款共${signedAmount(refundFen)}元，商家优惠退款共0.00元`,
    exportedLine(input.exportedAt),
  );
  return `${lines.join('\r\n')}\r\n`;
}

function summaryFileText(input: TradeBillInput): string {
  const payments = input.rows.filter((r) => r.kind === 'payment');
  const refunds = input.rows.filter((r) => r.kind === 'refund');
  const net = payments.reduce((s, r) => s + r.amountFen, 0) - refunds.reduce((s, r) => s + r.amountFen, 0);
  const n = signedAmount(net);
  const row = (store: string) => [store, '', payments.length, refunds.length, n, n, '0.00', '0.00', '0.00', '0.00', '0.00', n].join(',');
  const lines = [
    SUMMARY_TITLE,
    `#账号：[${input.sellerId}0156]`,
    headerRange(input.date),
    SUMMARY_START,
    SUMMARY_COLUMNS.join(','),
    row(''),
    row('合计'),
    SUMMARY_END,
    exportedLine(input.exportedAt),
  ];
  return `${lines.join('\r\n')}\r\n`;
}

/** `<pid>0156_<yyyyMMdd>` */
export function billBaseName(sellerId: string, date: string): string {
  return `${sellerId}0156_${date.replaceAll('-', '')}`;
}

/** The zip Alipay serves: detail and summary files, GBK contents, GBK names without the UTF-8 flag. */
export function buildTradeBillZip(input: TradeBillInput, opts: { detailText?: string } = {}): Uint8Array {
  const base = billBaseName(input.sellerId, input.date);
  const gbk = (s: string) => new Uint8Array(iconv.encode(s, 'gbk'));
  return buildZip(
    [
      { name: gbk(`${base}${DETAIL_SUFFIX}`), data: gbk(opts.detailText ?? detailFileText(input)) },
      { name: gbk(`${base}${SUMMARY_SUFFIX}`), data: gbk(summaryFileText(input)) },
    ],
    input.exportedAt,
  );
}
