// China has one zone, UTC+8 with no daylight saving: Alipay's timestamps, its bills and the shop's
// customers all count in it. Computed from the epoch so the server's TZ never matters.

export const BEIJING_OFFSET_MS = 8 * 60 * 60 * 1000;

/** The instant as Beijing wall-clock fields, read with getUTC*(). */
export function beijingWallClock(date: Date): Date {
  return new Date(date.getTime() + BEIJING_OFFSET_MS);
}

/** "2026-11-25" */
export function beijingDate(date: Date): string {
  return beijingWallClock(date).toISOString().slice(0, 10);
}

/** "2026-11-25 21:51:52" */
export function beijingDateTime(date: Date): string {
  const iso = beijingWallClock(date).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

/** The instant a Beijing calendar day starts ("2026-11-25" → 2026-11-24T16:00:00Z); `days` moves it. */
export function startOfBeijingDay(date: Date, days = 0): Date {
  const b = beijingWallClock(date);
  return new Date(Date.UTC(b.getUTCFullYear(), b.getUTCMonth(), b.getUTCDate() + days) - BEIJING_OFFSET_MS);
}
