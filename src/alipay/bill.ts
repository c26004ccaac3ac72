import { crc32 } from 'node:zlib';
import { Inflate } from 'fflate';
import iconv from 'iconv-lite';
import { AlipayError } from './errors.js';
import {
  COL,
  DETAIL_COLUMNS,
  DETAIL_END,
  DETAIL_START,
  DETAIL_SUFFIX,
  DETAIL_TITLE,
  KIND_PAYMENT,
  KIND_REFUND,
  parseSignedAmount,
} from './bill-format.js';
import { parseAlipayTime } from './time.js';

/** One row of the trade bill's detail file. Amounts are signed integer fen (refunds negative, as in the file). */
export interface BillRecord {
  kind: 'payment' | 'refund';
  tradeNo: string;
  outTradeNo: string;
  subject: string;
  /** 创建时间: the trade's creation (for a refund, the original trade's). */
  createdAt: Date;
  /** 完成时间: payment time, or the refund time for a refund. */
  finishedAt: Date;
  /** 订单金额（元） */
  orderAmountFen: number;
  /** 商家实收（元） */
  receivedFen: number;
  /** 退款批次号/请求号 (refunds) */
  outRequestNo?: string;
  /** 1-based line in the detail file, for messages. */
  line: number;
}

export interface BillTotals {
  count: number;
  /** 商家实收 (signed fen) */
  receivedFen: number;
}

export interface TradeBill {
  /** 账号, e.g. 20880211096256330156 (the seller id + 0156). */
  account: string;
  /** The detail file's entry name. */
  fileName: string;
  records: BillRecord[];
  payments: BillTotals;
  refunds: BillTotals;
}

/** The bill file cannot be trusted as complete; `line` (1-based) and `file` say where. */
export class AlipayBillError extends AlipayError {
  readonly file?: string;
  readonly line?: number;
  constructor(message: string, where: { file?: string; line?: number } = {}) {
    const prefix = where.file ? `${where.file}${where.line !== undefined ? ` line ${where.line}` : ''}: ` : '';
    super(`trade bill: ${prefix}${message}`);
    if (where.file !== undefined) this.file = where.file;
    if (where.line !== undefined) this.line = where.line;
  }
}

export interface ReadBillOptions {
  /** Refuses entries that inflate to more than this (zip bombs); default 512 MiB. */
  maxUncompressedBytes?: number;
}

/** One CSV line into cells; quoted cells ("a,b", "" for a quote) are accepted though Alipay rarely writes them. */
export function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell.trim() === '') {
      quoted = true;
      cell = '';
    } else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells;
}

// Id-like cells end with a tab (so spreadsheets keep them as text); some exports pad with spaces.
const clean = (cell: string | undefined): string => {
  if (cell === undefined) return '';
  const last = cell.charCodeAt(cell.length - 1);
  const first = cell.charCodeAt(0);
  return first === 9 || first === 32 || last === 9 || last === 32 ? cell.replace(/^[\t ]+|[\t ]+$/g, '') : cell;
};

const TOTAL_PAYMENTS = /^#交易合计：(\d+)笔，商家实收共(-?[\d.]+)元/;
const TOTAL_REFUNDS = /^#退款合计：(\d+)笔，商家实收退款共(-?[\d.]+)元/;
const ACCOUNT = /^#账号：\[(\d+)\]/;

/**
 * Reads an Alipay trade bill zip (alipay.data.dataservice.bill.downloadurl.query, bill_type=trade):
 * finds the 业务明细 file, decodes GBK, checks the start and end markers and the header, parses
 * every row and checks that they add up to the 交易合计 / 退款合计 lines. Anything unexpected is an
 * AlipayBillError naming the file and line — never a partial result.
 */
export function readTradeBill(zip: Uint8Array, opts: ReadBillOptions = {}): TradeBill {
  const max = opts.maxUncompressedBytes ?? 512 * 1024 * 1024;
  const entry = findDetailEntry(zip, max);
  return collect(parseDetailLines(zipLines(zip, entry, max), entry.name, own));
}

/**
 * A trade bill read row by row: the zip entry is inflated, decoded and parsed as `records` is
 * iterated, so only a slice of the file is in memory at once. The title, account and header are
 * checked at once; the totals when the iteration ends. Until `records` has ended without an error
 * the rows are not known to be complete: a consumer holds them provisionally.
 */
export interface TradeBillStream {
  account: string;
  fileName: string;
  /** Iterable once. Throws AlipayBillError at the first bad line, or at the end when the totals disagree. */
  records: Iterable<BillRecord>;
  /** The totals lines; only after `records` has been read to its end. */
  totals(): { payments: BillTotals; refunds: BillTotals };
}

export function openTradeBill(zip: Uint8Array, opts: ReadBillOptions = {}): TradeBillStream {
  const max = opts.maxUncompressedBytes ?? 512 * 1024 * 1024;
  const entry = findDetailEntry(zip, max);
  return parseDetailLines(zipLines(zip, entry, max), entry.name, (text) => text);
}

function collect(stream: TradeBillStream): TradeBill {
  const records = [...stream.records];
  return { account: stream.account, fileName: stream.fileName, records, ...stream.totals() };
}

// A compact copy that does not keep a big decoded text alive (substrings of a big string point
// into it); ASCII ids become one byte a character. For records that are kept (readTradeBill); a
// stream's records are short-lived and only pin the current slice of text.
const own = (s: string): string => (/^[\x20-\x7e]*$/.test(s) ? Buffer.from(s, 'latin1').toString('latin1') : (' ' + s).slice(1));

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  dataStart: number;
}

const damaged = (why: string) => new AlipayBillError(`the zip is damaged or truncated (${why})`);

/** The detail entry, from the zip's central directory (APPNOTE 4.3.12, 4.3.16). */
function findDetailEntry(zip: Uint8Array, max: number): ZipEntry {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = -1;
  for (let at = zip.length - 22; at >= 0 && at >= zip.length - 22 - 0xffff; at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw damaged('no end of central directory');
  const count = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 46 > zip.length || view.getUint32(at, true) !== 0x02014b50) throw damaged(`central directory entry ${i + 1} is missing`);
    const flags = view.getUint16(at + 8, true);
    const nameLength = view.getUint16(at + 28, true);
    const next = at + 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    if (next > zip.length) throw damaged(`central directory entry ${i + 1} is cut off`);
    const rawName = zip.subarray(at + 46, at + 46 + nameLength);
    // Alipay writes GBK names without the UTF-8 flag (general purpose bit 11).
    const name = flags & 0x800 ? new TextDecoder().decode(rawName) : iconv.decode(Buffer.from(rawName), 'gbk');
    names.push(name);
    if (name.endsWith(DETAIL_SUFFIX)) {
      const size = view.getUint32(at + 24, true);
      if (size > max) throw new AlipayBillError(`${name} would inflate to more than ${max} bytes`);
      const method = view.getUint16(at + 10, true);
      if (method !== 0 && method !== 8) throw new AlipayBillError(`${name} uses zip method ${method}; only stored and deflated entries are read`);
      const local = view.getUint32(at + 42, true);
      if (local + 30 > zip.length || view.getUint32(local, true) !== 0x04034b50) throw damaged(`no local header for ${name}`);
      const dataStart = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      const compressedSize = view.getUint32(at + 20, true);
      if (dataStart + compressedSize > zip.length) throw damaged(`${name} is cut off`);
      return { name, method, crc: view.getUint32(at + 16, true), compressedSize, size, dataStart };
    }
    at = next;
  }
  throw new AlipayBillError(`no *${DETAIL_SUFFIX} entry in the zip (entries: ${names.join(', ') || 'none'})`);
}

const SLICE = 16 * 1024;

/** The entry's text lines (line ends kept), inflated and decoded a slice at a time; size and CRC-32 checked at the end. */
function* zipLines(zip: Uint8Array, entry: ZipEntry, max: number): Generator<string, void, undefined> {
  const decode = gbkDecoder(entry.name);
  const texts: string[] = [];
  let inflated = 0;
  let crc = 0;
  let ended = false;
  const take = (chunk: Uint8Array) => {
    inflated += chunk.length;
    if (inflated > max) throw new AlipayBillError(`${entry.name} would inflate to more than ${max} bytes`);
    crc = crc32(chunk, crc);
    texts.push(decode(chunk, false));
  };
  const inflater =
    entry.method === 8
      ? new Inflate((chunk, final) => {
          take(chunk);
          if (final) ended = true;
        })
      : undefined;
  let carry = '';
  const end = entry.dataStart + entry.compressedSize;
  for (let at = entry.dataStart; ; at += SLICE) {
    const last = at + SLICE >= end;
    const slice = zip.subarray(at, Math.min(at + SLICE, end));
    try {
      if (inflater) inflater.push(slice, last);
      else take(slice);
    } catch (err) {
      if (err instanceof AlipayBillError) throw err;
      throw damaged(`${entry.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (last) {
      if ((inflater && !ended) || inflated !== entry.size) throw damaged(`${entry.name} inflates to ${inflated} bytes, the zip says ${entry.size}`);
      if (crc >>> 0 !== entry.crc) throw damaged(`${entry.name} fails its CRC-32 check`);
      texts.push(decode(new Uint8Array(0), true));
    }
    for (const text of texts) {
      const parts = (carry + text).split('\n');
      carry = parts.pop()!;
      yield* parts;
    }
    texts.length = 0;
    if (last) break;
  }
  yield carry;
}

// Node's ICU decoder is native and strict (bytes that are not GBK are an error, not U+FFFD);
// iconv-lite where Node was built without full ICU.
function gbkDecoder(fileName: string): (bytes: Uint8Array, final: boolean) => string {
  let decoder: InstanceType<typeof TextDecoder>;
  try {
    decoder = new TextDecoder('gbk', { fatal: true });
  } catch {
    const lenient = iconv.getDecoder('gbk');
    return (bytes, final) => lenient.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) + (final ? (lenient.end() ?? '') : '');
  }
  return (bytes, final) => {
    try {
      return decoder.decode(bytes, { stream: !final });
    } catch {
      throw new AlipayBillError('the file is not valid GBK text', { file: fileName });
    }
  };
}

/** The detail file's lines: the preamble is checked at once, the rows and totals as they are read. */
function parseDetailLines(source: Iterator<string>, fileName: string, keep: (text: string) => string): TradeBillStream {
  let index = -1;
  let exhausted = false;
  const next = (): string | undefined => {
    if (exhausted) return undefined;
    const r = source.next();
    if (r.done) {
      exhausted = true;
      return undefined;
    }
    index++;
    return r.value.endsWith('\r') ? r.value.slice(0, -1) : r.value;
  };
  const fail = (message: string, at?: number): never => {
    throw new AlipayBillError(message, at === undefined ? { file: fileName } : { file: fileName, line: at + 1 });
  };

  if (next()?.replace(/^\uFEFF/, '').trim() !== DETAIL_TITLE) fail(`expected the title ${DETAIL_TITLE}`, 0);
  let account: string | undefined;
  for (;;) {
    const raw = next();
    if (raw === undefined) return fail('no start marker (#-----…业务明细列表-----…)');
    const line = raw.trim();
    const m = ACCOUNT.exec(line);
    if (m) account = m[1];
    if (line === DETAIL_START) break;
    if (!line.startsWith('#') && line !== '') fail(`unexpected text before the start marker (${DETAIL_START.slice(0, 50)}…)`, index);
  }
  if (account === undefined) fail('no #账号：[…] line before the list');
  const headerIndex = index + 1;
  const header = splitCsvLine(next() ?? '').map(clean);
  for (let c = 0; c < DETAIL_COLUMNS.length; c++) {
    if (header[c] !== DETAIL_COLUMNS[c]) {
      fail(`column ${c + 1} of the header is ${JSON.stringify(header[c] ?? '')}, expected ${JSON.stringify(DETAIL_COLUMNS[c])}`, headerIndex);
    }
  }

  let payments: BillTotals | undefined;
  let refunds: BillTotals | undefined;
  let started = false;
  function* records(): Generator<BillRecord, void, undefined> {
    if (started) throw new Error("a bill's records can be read once");
    started = true;
    const sums = { payment: { count: 0, fen: 0 }, refund: { count: 0, fen: 0 } };
    let ended = false;
    for (let line = next(); line !== undefined; line = next()) {
      if (line.startsWith('#')) {
        if (line.trim() === DETAIL_END) {
          ended = true;
          break;
        }
        fail('a comment line inside the list (is the end marker missing?)', index);
      }
      if (line.trim() === '') {
        const blank = index;
        for (let rest = next(); rest !== undefined; rest = next()) {
          if (rest.trim() !== '') fail('an empty line inside the list (the file may be truncated)', blank);
        }
        break;
      }
      const record = parseRow(rowCells(line), index, fail, keep);
      sums[record.kind].count++;
      sums[record.kind].fen += record.receivedFen;
      yield record;
    }
    if (!ended) fail(`no end marker (${DETAIL_END.slice(0, 50)}…): the file is truncated`, index);

    for (let raw = next(); raw !== undefined; raw = next()) {
      const line = raw.trim();
      if (line === '') continue;
      if (!line.startsWith('#')) fail('text after the end marker that is not a comment', index);
      const p = TOTAL_PAYMENTS.exec(line);
      const r = TOTAL_REFUNDS.exec(line);
      const m = p ?? r;
      if (!m) continue;
      const fen = parseSignedAmount(m[2] ?? '');
      if (fen === undefined) fail(`the total ${JSON.stringify(m[2])} is not an amount`, index);
      const totals = { count: Number(m[1]), receivedFen: fen as number };
      if (p) payments = totals;
      else refunds = totals;
      const kind = p ? 'payment' : 'refund';
      const sum = sums[kind];
      if (sum.count !== totals.count || sum.fen !== totals.receivedFen) {
        fail(
          `${p ? '交易合计' : '退款合计'} says ${totals.count} rows totalling ${m[2]} yuan, but the list has ${sum.count} ${kind} rows totalling ${formatSigned(sum.fen)} yuan`,
          index,
        );
      }
    }
    if (!payments) fail('no #交易合计 line after the list');
    if (!refunds) fail('no #退款合计 line after the list');
  }
  return {
    account: account!,
    fileName,
    records: { [Symbol.iterator]: records },
    totals() {
      if (!payments || !refunds) throw new Error("a bill's totals are known once its records have been read to the end");
      return { payments, refunds };
    },
  };
}

function formatSigned(fen: number): string {
  const abs = Math.abs(fen);
  return `${fen < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

const commas = new Int32Array(DETAIL_COLUMNS.length + 1);

/** The cells of a row; without quotes only the columns that are read are cut out (100,000 rows a day). */
function rowCells(line: string): string[] {
  if (line.includes('"')) return splitCsvLine(line);
  let count = 0;
  for (let at = line.indexOf(','); at >= 0 && count < commas.length; at = line.indexOf(',', at + 1)) commas[count++] = at;
  if (count < DETAIL_COLUMNS.length - 1) return line.split(',');
  const cells: string[] = new Array<string>(DETAIL_COLUMNS.length).fill('');
  for (const c of [COL.tradeNo, COL.outTradeNo, COL.kind, COL.subject, COL.createdAt, COL.finishedAt, COL.orderAmount, COL.received, COL.outRequestNo]) {
    cells[c] = line.slice(c === 0 ? 0 : commas[c - 1]! + 1, commas[c]!);
  }
  return cells;
}

function parseRow(cells: string[], index: number, fail: (message: string, index?: number) => never, keep: (text: string) => string): BillRecord {
  if (cells.length < DETAIL_COLUMNS.length) fail(`${cells.length} columns, expected ${DETAIL_COLUMNS.length}`, index);
  const kindText = clean(cells[COL.kind]);
  if (kindText !== KIND_PAYMENT && kindText !== KIND_REFUND) fail(`业务类型 ${JSON.stringify(kindText)} is neither ${KIND_PAYMENT} nor ${KIND_REFUND}`, index);
  const kind = kindText === KIND_PAYMENT ? 'payment' : 'refund';
  const tradeNo = keep(clean(cells[COL.tradeNo]));
  if (!/^\w{1,64}$/.test(tradeNo)) fail(`支付宝交易号 ${JSON.stringify(tradeNo)} is not a trade number`, index);
  const outTradeNo = keep(clean(cells[COL.outTradeNo]));
  if (outTradeNo.length > 64) fail('商户订单号 is longer than 64 characters', index);
  const record: BillRecord = {
    kind,
    tradeNo,
    outTradeNo,
    subject: keep(clean(cells[COL.subject])),
    createdAt: timeCell(cells, COL.createdAt, '创建时间', index, fail),
    finishedAt: timeCell(cells, COL.finishedAt, '完成时间', index, fail),
    orderAmountFen: moneyCell(cells, COL.orderAmount, '订单金额', kind, index, fail),
    receivedFen: moneyCell(cells, COL.received, '商家实收', kind, index, fail),
    line: index + 1,
  };
  const outRequestNo = clean(cells[COL.outRequestNo]);
  if (outRequestNo) record.outRequestNo = keep(outRequestNo);
  return record;
}

function timeCell(cells: string[], c: number, name: string, index: number, fail: (message: string, index?: number) => never): Date {
  const text = clean(cells[c]);
  try {
    return parseAlipayTime(text);
  } catch {
    return fail(`${name} ${JSON.stringify(text)} is not a time (yyyy-MM-dd HH:mm:ss)`, index);
  }
}

function moneyCell(cells: string[], c: number, name: string, kind: BillRecord['kind'], index: number, fail: (message: string, index?: number) => never): number {
  const text = clean(cells[c]);
  const fen = parseSignedAmount(text);
  if (fen === undefined) return fail(`${name} ${JSON.stringify(text)} is not an amount`, index);
  if (kind === 'payment' ? fen < 0 : fen > 0) fail(`${name} ${text} has the wrong sign for a ${kind === 'payment' ? KIND_PAYMENT : KIND_REFUND} row`, index);
  return fen;
}

export interface BillDownloadOptions {
  /** Refuses larger downloads; default 64 MiB. */
  maxBytes?: number;
  /** The whole download, redirects included; default 60 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * Fetches the zip behind bill_download_url (valid about 30 s: call at once). Only from the host the
 * signed answer named: a redirect elsewhere is refused, and the body is cut off at maxBytes.
 */
export async function downloadBill(url: string, opts: BillDownloadOptions = {}): Promise<Uint8Array> {
  const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const doFetch = opts.fetch ?? fetch;
  let current = new URL(url);
  if (current.protocol !== 'https:' && current.protocol !== 'http:') throw new AlipayBillError(`bill_download_url is not http(s): ${url}`);
  const host = current.host;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    for (let redirects = 0; ; redirects++) {
      const res = await doFetch(current, { redirect: 'manual', signal });
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get('location');
        await res.body?.cancel();
        if (!location || redirects >= 3) throw new AlipayBillError(`bill download redirected too often or without a location (HTTP ${res.status})`);
        const next = new URL(location, current);
        if (next.host !== host || (next.protocol !== 'https:' && next.protocol !== 'http:')) {
          throw new AlipayBillError(`bill download redirected to another host (${next.host}); only ${host} is trusted`);
        }
        current = next;
        continue;
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new AlipayBillError(`bill download answered HTTP ${res.status} (the URL is valid about 30 s)`);
      }
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (declared > maxBytes) {
        await res.body?.cancel();
        throw new AlipayBillError(`bill download is ${declared} bytes, more than the limit of ${maxBytes}`);
      }
      return await readLimited(res, maxBytes);
    }
  } catch (err) {
    if (err instanceof AlipayBillError) throw err;
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    throw new AlipayBillError(timedOut ? `bill download took longer than ${timeoutMs} ms` : `bill download failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function readLimited(res: Response, maxBytes: number): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new AlipayBillError(`bill download is more than the limit of ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
