import { createHash } from 'node:crypto';
import type { Db } from '../db/client.js';
import type { MailMessage } from '../generated/prisma/client.js';
import { errorText } from '../lib/error-text.js';
import type { AccountEvents } from '../accounts/events.js';
import type { ShopEvents, Tx } from '../shop/events.js';
import { passwordResetMessage, paymentReceivedMessage, refundMadeMessage, signUpExistingMessage, verifyEmailMessage, type MailContent } from './messages.js';
import type { MailTransport } from './transport.js';

const MINUTE = 60_000;

export interface NewMail {
  /** One cause, one message: a second enqueue with the same key changes nothing. */
  dedupeKey: string;
  kind: string;
  to: string;
  content: MailContent;
}

/** Writes a message into the outbox, inside the caller's transaction. */
export async function enqueueMail(tx: Tx, mail: NewMail): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO mail_messages (dedupe_key, kind, to_address, subject, text, html, updated_at)
    VALUES (${mail.dedupeKey}, ${mail.kind}, ${mail.to}, ${mail.content.subject.slice(0, 300)}, ${mail.content.text}, ${mail.content.html}, now())
    ON CONFLICT (dedupe_key) DO NOTHING`;
}

const keyOf = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 32);

/**
 * The outbox's subscribers to the shop's and the accounts' events: each writes its message in
 * the transaction of the change (the order turning PAID, a refund, a sign-up, a reset request).
 */
export function createMailSubscribers(opts: { publicBaseUrl: string }): { shop: ShopEvents; accounts: AccountEvents } {
  const base = opts.publicBaseUrl;
  const orderLink = (outTradeNo: string) => `${base}/orders/${encodeURIComponent(outTradeNo)}`;
  return {
    shop: {
      orderPaidIgnoresGuests: true,
      async orderPaid(tx, event) {
        const order = await tx.order.findUnique({
          where: { id: event.orderId },
          include: { items: { orderBy: { id: 'asc' } }, shopper: { select: { email: true, emailVerifiedAt: true } } },
        });
        // A guest order has no address to write to (Alipay gives only a masked account).
        if (!order?.shopper) return;
        await enqueueMail(tx, {
          dedupeKey: `order-paid:${order.id}`,
          kind: 'payment-received',
          to: order.shopper.email,
          content: paymentReceivedMessage({ order, link: orderLink(order.outTradeNo), unverified: order.shopper.emailVerifiedAt === null }),
        });
      },
      async orderRefunded(tx, event) {
        const order = await tx.order.findUnique({ where: { id: event.orderId }, select: { shopper: { select: { email: true } } } });
        if (!order?.shopper) return;
        await enqueueMail(tx, {
          // The refunded amount is cumulative: each new total is news, a repeated one is not.
          dedupeKey: `order-refunded:${event.orderId}:${event.refundedFen}`,
          kind: 'refund-made',
          to: order.shopper.email,
          content: refundMadeMessage({ outTradeNo: event.outTradeNo, refundedFen: event.refundedFen, totalFen: event.totalFen, link: orderLink(event.outTradeNo) }),
        });
      },
    },
    accounts: {
      async verificationRequested(tx, event) {
        const link = `${base}/account/verify?token=${encodeURIComponent(event.token)}`;
        await enqueueMail(tx, { dedupeKey: `verify:${keyOf(event.token)}`, kind: 'verify-email', to: event.email, content: verifyEmailMessage({ email: event.email, link }) });
      },
      async passwordResetRequested(tx, event) {
        const link = `${base}/account/reset/${encodeURIComponent(event.token)}`;
        await enqueueMail(tx, { dedupeKey: `reset:${keyOf(event.token)}`, kind: 'password-reset', to: event.email, content: passwordResetMessage({ email: event.email, link }) });
      },
      async signUpForExistingAccount(tx, event) {
        // At most one such warning per account and hour, however often someone tries.
        const hour = Math.floor(Date.now() / (60 * MINUTE));
        await enqueueMail(tx, {
          dedupeKey: `signup-existing:${event.shopperId}:${hour}`,
          kind: 'signup-existing',
          to: event.email,
          content: signUpExistingMessage({ email: event.email, signInLink: `${base}/account/signin`, resetLink: `${base}/account/reset` }),
        });
      },
    },
  };
}

export interface MailWorkerOptions {
  db: Db;
  transport: MailTransport;
  from: string;
  batchSize?: number;
  maxAttempts?: number;
  /** First retry after this long, doubling each time (capped at an hour). */
  retryBaseMs?: number;
  /** A claimed message whose sender vanished (crash) may be taken over after this long. */
  claimMs?: number;
}

export interface DeliveryReport {
  sent: number;
  retrying: number;
  failed: number;
}

export const MAIL_MAX_ATTEMPTS = 8;

export function retryDelayMs(attempts: number, baseMs: number): number {
  return Math.min(60 * MINUTE, baseMs * 2 ** Math.max(0, attempts - 1));
}

function domainOf(from: string): string {
  return /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'localhost';
}

/**
 * Sends what the outbox holds. Each run claims due messages with FOR UPDATE SKIP LOCKED and marks
 * them SENDING in one statement, so two workers (instances) never hold the same message; a failed
 * send goes back to PENDING with a backoff, and after the last attempt to FAILED for an operator.
 */
export function createMailWorker(opts: MailWorkerOptions) {
  const { db, transport } = opts;
  const batchSize = opts.batchSize ?? 10;
  const maxAttempts = opts.maxAttempts ?? MAIL_MAX_ATTEMPTS;
  const retryBaseMs = opts.retryBaseMs ?? 30_000;
  const claimMs = opts.claimMs ?? 5 * MINUTE;
  const domain = domainOf(opts.from);

  async function claim(now: Date): Promise<MailMessage[]> {
    const claimedUntil = new Date(now.getTime() + claimMs);
    const rows = await db.$queryRaw<{ id: number }[]>`
      UPDATE mail_messages SET status = 'SENDING', attempts = attempts + 1, locked_until = ${claimedUntil}, updated_at = now()
      WHERE id IN (
        SELECT id FROM mail_messages
        WHERE (status = 'PENDING' AND next_attempt_at <= ${now}) OR (status = 'SENDING' AND locked_until <= ${now})
        ORDER BY next_attempt_at, id
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED
      )
      RETURNING id`;
    if (rows.length === 0) return [];
    return db.mailMessage.findMany({ where: { id: { in: rows.map((r) => r.id) } }, orderBy: { id: 'asc' } });
  }

  async function deliver(message: MailMessage, now: Date): Promise<keyof DeliveryReport> {
    try {
      await transport.send({
        from: opts.from,
        to: message.toAddress,
        subject: message.subject,
        text: message.text,
        html: message.html,
        // Stable per message: should a takeover ever resend it, mail systems can tell it is the same one.
        messageId: `<outbox-${message.id}-${message.createdAt.getTime()}@${domain}>`,
      });
    } catch (err) {
      const lastError = errorText(err).slice(0, 1000);
      const failed = message.attempts >= maxAttempts;
      await db.mailMessage.updateMany({
        where: { id: message.id, status: 'SENDING' },
        data: failed
          ? { status: 'FAILED', lockedUntil: null, lastError }
          : { status: 'PENDING', lockedUntil: null, lastError, nextAttemptAt: new Date(now.getTime() + retryDelayMs(message.attempts, retryBaseMs)) },
      });
      return failed ? 'failed' : 'retrying';
    }
    await db.mailMessage.updateMany({ where: { id: message.id, status: 'SENDING' }, data: { status: 'SENT', sentAt: new Date(), lockedUntil: null, lastError: null } });
    return 'sent';
  }

  return {
    /** Sends every message due at `now` (batch by batch); says what happened. */
    async deliverDue(now = new Date()): Promise<DeliveryReport> {
      const report: DeliveryReport = { sent: 0, retrying: 0, failed: 0 };
      for (;;) {
        const batch = await claim(now);
        for (const message of batch) report[await deliver(message, now)]++;
        if (batch.length < batchSize) return report;
      }
    },
  };
}

export type MailWorker = ReturnType<typeof createMailWorker>;

/** Messages that could not be sent after every attempt, newest first: for the operator console. */
export function listFailedMail(db: Db, opts: { limit?: number } = {}) {
  return db.mailMessage.findMany({
    where: { status: 'FAILED' },
    orderBy: { id: 'desc' },
    take: opts.limit ?? 50,
    select: { id: true, kind: true, toAddress: true, subject: true, attempts: true, lastError: true, createdAt: true, updatedAt: true },
  });
}

/** How many messages are in each state (PENDING with a lastError are being retried). */
export async function countMailByStatus(db: Db) {
  const groups = await db.mailMessage.groupBy({ by: ['status'], _count: { _all: true } });
  const retrying = await db.mailMessage.count({ where: { status: 'PENDING', lastError: { not: null } } });
  return { ...Object.fromEntries(groups.map((g) => [g.status, g._count._all])), retrying } as Partial<Record<MailMessage['status'], number>> & { retrying: number };
}

/** Puts a FAILED message back in the queue (an operator fixed the cause); true when it was FAILED. */
export async function retryFailedMail(db: Db, id: number): Promise<boolean> {
  const { count } = await db.mailMessage.updateMany({ where: { id, status: 'FAILED' }, data: { status: 'PENDING', attempts: 0, nextAttemptAt: new Date() } });
  return count === 1;
}
