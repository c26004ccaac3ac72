import { BEIJING_OFFSET_MS, beijingDateTime } from '../lib/beijing-time.js';
import { AlipayError } from './errors.js';

// Alipay timestamps are `yyyy-MM-dd HH:mm:ss` in Beijing time (UTC+8, no DST) regardless of the
// server's zone.
// gmt_refund in notifications carries milliseconds (`2015-04-28 15:45:57.320`).
const TIME_RE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/;

export function formatAlipayTime(date: Date): string {
  if (!Number.isFinite(date.getTime())) throw new AlipayError('formatAlipayTime: invalid Date');
  return beijingDateTime(date);
}

export function parseAlipayTime(s: string): Date {
  const m = TIME_RE.exec(s);
  if (!m) throw new AlipayError(`not an Alipay time (yyyy-MM-dd HH:mm:ss): ${JSON.stringify(s)}`);
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  // Reject out-of-range parts (2024-02-30, 24:00:00); Date.UTC(y, mo, 0) is the month's last day.
  const lastDay = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > lastDay || h > 23 || mi > 59 || se > 59) {
    throw new AlipayError(`not a valid Alipay time: ${JSON.stringify(s)}`);
  }
  return new Date(Date.UTC(y, mo - 1, d, h, mi, se, ms) - BEIJING_OFFSET_MS);
}
