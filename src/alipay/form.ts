import iconv from 'iconv-lite';
import { AlipayNotificationError } from './errors.js';

/** Normalised charset: what Alipay puts in the `charset` field, mapped to a decoder. */
export type FormCharset = 'utf-8' | 'gbk' | 'gb18030';

export interface ParsedForm {
  /** The charset the values were decoded with (from the `charset` field; default utf-8). */
  charset: FormCharset;
  /** Field names in the order received. */
  keys: string[];
  /** Values form-decoded once, then decoded in `charset`. */
  fields: Record<string, string>;
  /** Values as received (still form-encoded), one char per byte. */
  encoded: Record<string, string>;
  /** True when every value's bytes are exactly the UTF-8 encoding of its decoded string. */
  utf8Exact: boolean;
}

export function resolveCharset(label: string | undefined): FormCharset | undefined {
  if (label === undefined || label === '') return 'utf-8';
  switch (label.trim().toLowerCase()) {
    case 'utf-8':
    case 'utf8':
      return 'utf-8';
    case 'gbk':
    case 'gb2312': // GBK is a superset of GB2312
      return 'gbk';
    case 'gb18030':
      return 'gb18030';
    default:
      return undefined;
  }
}

export function encodeText(text: string, charset: FormCharset): Buffer {
  return charset === 'utf-8' ? Buffer.from(text, 'utf8') : iconv.encode(text, charset);
}

export function decodeText(bytes: Buffer, charset: FormCharset): string {
  return charset === 'utf-8' ? bytes.toString('utf8') : iconv.decode(bytes, charset);
}

const BAD_ESCAPE_RE = /%(?![0-9A-Fa-f]{2})/;
const ESCAPE_RE = /%([0-9A-Fa-f]{2})/g;
const NON_ASCII_RE = /[^\x00-\x7f]/;

function checkEscapes(text: string): void {
  if (BAD_ESCAPE_RE.test(text)) {
    throw new AlipayNotificationError('malformed-body', 'a form field has a malformed percent escape');
  }
}

/**
 * application/x-www-form-urlencoded decoding, exactly once: `+` → space, `%XX` → byte.
 * Returns the bytes as a binary string (one char per byte).
 */
function formDecodeBinary(text: string): string {
  if (!text.includes('%')) return text.replaceAll('+', ' ');
  checkEscapes(text);
  return text.replaceAll('+', ' ').replace(ESCAPE_RE, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** The form-decoded bytes of a received value (what Alipay signed). */
export function formValueBytes(form: ParsedForm, key: string): Buffer {
  return Buffer.from(formDecodeBinary(form.encoded[key] ?? ''), 'latin1');
}

/**
 * Parses a raw form body (the notification POST body or a return_url query string).
 * Values are form-decoded once into bytes, then decoded in the charset the `charset` field
 * names — Alipay signs the bytes in that charset, so verification uses those bytes.
 */
export function parseForm(raw: Buffer | string): ParsedForm {
  // Work on a binary string: one char per byte.
  const text =
    typeof raw === 'string'
      ? NON_ASCII_RE.test(raw)
        ? Buffer.from(raw, 'utf8').toString('latin1')
        : raw
      : raw.toString('latin1');
  const keys: string[] = [];
  const encoded: Record<string, string> = {};
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf('&', start);
    if (end < 0) end = text.length;
    const segment = text.slice(start, end);
    start = end + 1;
    if (segment === '') continue;
    const eq = segment.indexOf('=');
    if (eq <= 0) {
      throw new AlipayNotificationError('malformed-body', 'form body has a field without "name=value"');
    }
    // Field names are ASCII in Alipay's protocol.
    const key = formDecodeBinary(segment.slice(0, eq));
    if (key === '__proto__') {
      throw new AlipayNotificationError('malformed-body', 'form body has a field named "__proto__"', { field: key });
    }
    if (Object.hasOwn(encoded, key)) {
      throw new AlipayNotificationError('malformed-body', `form body repeats the field "${key}"`, { field: key });
    }
    keys.push(key);
    encoded[key] = segment.slice(eq + 1);
  }
  if (keys.length === 0) throw new AlipayNotificationError('malformed-body', 'form body is empty');
  const charsetLabel = encoded['charset'] === undefined ? undefined : formDecodeBinary(encoded['charset']);
  const charset = resolveCharset(charsetLabel);
  if (charset === undefined) {
    throw new AlipayNotificationError('unknown-charset', `unknown charset "${charsetLabel}"`, { field: 'charset' });
  }
  const fields: Record<string, string> = {};
  let utf8Exact = charset === 'utf-8' && !keys.some((k) => NON_ASCII_RE.test(k));
  for (const k of keys) {
    const value = encoded[k] as string;
    if (charset === 'utf-8' && !NON_ASCII_RE.test(value)) {
      // Fast path: native decoding; valid UTF-8 round-trips, so the bytes are Buffer.from(decoded).
      if (!value.includes('%')) {
        fields[k] = value.replaceAll('+', ' ');
        continue;
      }
      try {
        fields[k] = decodeURIComponent(value.replaceAll('+', ' '));
        continue;
      } catch {
        checkEscapes(value); // malformed escape → malformed-body; otherwise invalid UTF-8 bytes
      }
    }
    utf8Exact = false;
    fields[k] = decodeText(Buffer.from(formDecodeBinary(value), 'latin1'), charset);
  }
  return { charset, keys, fields, encoded, utf8Exact };
}

function isUnreserved(b: number): boolean {
  return (
    (b >= 0x30 && b <= 0x39) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    b === 0x2a || b === 0x2d || b === 0x2e || b === 0x5f
  );
}

function formEncodeBytes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    if (b === 0x20) out += '+';
    else if (isUnreserved(b)) out += String.fromCharCode(b);
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** application/x-www-form-urlencoded text; for GBK the GBK bytes are percent-encoded. */
export function encodeForm(params: Record<string, string | undefined | null>, charset: string = 'utf-8'): string {
  const cs = resolveCharset(charset);
  if (cs === undefined) throw new AlipayNotificationError('unknown-charset', `unknown charset "${charset}"`);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    parts.push(`${formEncodeBytes(encodeText(k, cs))}=${formEncodeBytes(encodeText(v, cs))}`);
  }
  return parts.join('&');
}
