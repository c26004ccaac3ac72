import type { KeyObject } from 'node:crypto';
import { formatAlipayTime, signNotification } from '../alipay/index.js';
import type { Db } from '../db/client.js';
import type { Prisma } from '../generated/prisma/client.js';

export type NotifyTransport = (
  url: string,
  body: string,
  headers: Record<string, string>,
) => Promise<{ status: number; text: string }>;

export interface SandboxLogger {
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

/** Alipay's header, malformed as it is. */
export const NOTIFY_CONTENT_TYPE = 'application/x-www-form-urlencoded; text/html; charset=utf-8';

/** After the first attempt, Alipay retries after 2m, 10m, 10m, 1h, 2h, 6h, 15h: 8 attempts in all. */
export const RETRY_DELAYS_MS = [2, 10, 10, 60, 120, 360, 900].map((minutes) => minutes * 60_000);
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

const SNIPPET_CHARS = 500;
const FORCED_FAILURE = 'forced failure by console';
const SETTINGS_ID = 1;

export const fetchNotifyTransport: NotifyTransport = async (url, body, headers) => {
  const res = await fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
};

export interface NotifierOptions {
  db: Db;
  alipayPrivateKey: KeyObject;
  transport: NotifyTransport;
  timeScale: number;
  now: () => Date;
  logger: SandboxLogger;
}

export type Trigger = 'scheduled' | 'manual';

/** Sends trade_status_sync notifications the way Alipay does, with its retry schedule, from the DB. */
export function createNotifier(opts: NotifierOptions) {
  const { db, now, logger } = opts;
  const inFlight = new Set<Promise<unknown>>();
  // A claimed attempt is invisible to other pollers for this long (covers the 10 s send timeout).
  const leaseMs = 60_000;

  function track<T>(promise: Promise<T>): Promise<T> {
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise)).catch(() => {});
    return promise;
  }

  async function takeForcedFailure(): Promise<boolean> {
    const { count } = await db.sandboxSettings.updateMany({
      where: { id: SETTINGS_ID, failNotifications: { gt: 0 } },
      data: { failNotifications: { decrement: 1 } },
    });
    return count === 1;
  }

  async function post(notification: { url: string; fields: Prisma.JsonValue }) {
    const fields = { ...(notification.fields as Record<string, string>), notify_time: formatAlipayTime(now()) };
    const body = signNotification(fields, opts.alipayPrivateKey, { charset: 'utf-8' });
    if (await takeForcedFailure()) return { ok: false, error: FORCED_FAILURE } as const;
    try {
      const res = await opts.transport(notification.url, body, { 'Content-Type': NOTIFY_CONTENT_TYPE });
      // Alipay stops retrying only on a body of exactly "success".
      return { ok: res.text.trim() === 'success', httpStatus: res.status, response: res.text.slice(0, SNIPPET_CHARS) } as const;
    } catch (err) {
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      return { ok: false, error: message.slice(0, SNIPPET_CHARS) } as const;
    }
  }

  /** One attempt. Scheduled attempts claim the row first, so two gateways never send the same one. */
  async function attempt(id: number, trigger: Trigger): Promise<boolean> {
    const claimedAt = now();
    if (trigger === 'scheduled') {
      const { count } = await db.sandboxNotification.updateMany({
        where: { id, status: 'PENDING', nextAttemptAt: { lte: claimedAt } },
        data: { nextAttemptAt: new Date(claimedAt.getTime() + leaseMs) },
      });
      if (count !== 1) return false;
    }
    const notification = await db.sandboxNotification.findUnique({ where: { id } });
    if (!notification) return false;
    const result = await post(notification);
    const attemptedAt = now();
    const previous = await db.sandboxNotificationAttempt.count({ where: { notificationId: id } });
    await db.sandboxNotificationAttempt.create({
      data: {
        notificationId: id,
        attemptNo: previous + 1,
        trigger,
        attemptedAt,
        ok: result.ok,
        httpStatus: 'httpStatus' in result ? result.httpStatus : null,
        response: 'response' in result ? result.response : null,
        error: 'error' in result ? result.error : null,
      },
    });
    if (result.ok) {
      await db.sandboxNotification.update({
        where: { id },
        data: {
          status: 'DELIVERED',
          deliveredAt: attemptedAt,
          nextAttemptAt: null,
          ...(trigger === 'scheduled' ? { attemptCount: { increment: 1 } } : {}),
        },
      });
    } else if (trigger === 'scheduled') {
      const attempts = notification.attemptCount + 1;
      const delay = RETRY_DELAYS_MS[attempts - 1];
      await db.sandboxNotification.update({
        where: { id },
        data:
          delay === undefined
            ? { attemptCount: attempts, status: 'GAVE_UP', nextAttemptAt: null }
            : { attemptCount: attempts, nextAttemptAt: new Date(attemptedAt.getTime() + delay * opts.timeScale) },
      });
    }
    logger.info(
      { notifyId: notification.notifyId, url: notification.url, trigger, ok: result.ok, ...('httpStatus' in result ? { status: result.httpStatus } : { error: result.error }) },
      'sandbox notification attempt',
    );
    return true;
  }

  return {
    /** The first attempt, right after the state change; not awaited by the caller. */
    kick(id: number): void {
      track(attempt(id, 'scheduled')).catch((err: unknown) => logger.error({ err, id }, 'sandbox notification failed'));
    },

    /** A console resend: an extra attempt now that leaves the retry schedule alone unless it succeeds. */
    resend(id: number): Promise<boolean> {
      return track(attempt(id, 'manual'));
    },

    /** One pass over the due attempts; returns how many were made. */
    async deliverDue(): Promise<number> {
      const due = await db.sandboxNotification.findMany({
        where: { status: 'PENDING', nextAttemptAt: { lte: now() } },
        orderBy: { nextAttemptAt: 'asc' },
        select: { id: true },
        take: 50,
      });
      const results = await Promise.all(due.map(({ id }) => track(attempt(id, 'scheduled'))));
      return results.filter(Boolean).length;
    },

    async setForcedFailures(n: number): Promise<void> {
      await db.sandboxSettings.upsert({
        where: { id: SETTINGS_ID },
        create: { id: SETTINGS_ID, failNotifications: n },
        update: { failNotifications: n },
      });
    },

    async forcedFailures(): Promise<number> {
      const row = await db.sandboxSettings.findUnique({ where: { id: SETTINGS_ID } });
      return row?.failNotifications ?? 0;
    },

    /** Resolves when every attempt started so far has finished. */
    async settle(): Promise<void> {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

export type Notifier = ReturnType<typeof createNotifier>;
