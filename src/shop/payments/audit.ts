import type { Db } from '../../db/client.js';
import type { Tx } from '../events.js';
import type { PaymentReport } from './port.js';

export const RAW_LIMIT = 64 * 1024;

/** PostgreSQL text cannot hold NUL and our columns have lengths: any text from outside, made storable. */
export function storableText(value: string, max: number): string {
  return value.replaceAll('\u0000', '\\0').slice(0, max);
}

function optionalText(value: string | undefined, max: number): string | null {
  return value ? storableText(value, max) || null : null;
}

export type EventOutcome = 'applied' | 'duplicate' | 'acknowledged' | 'rejected';

export type AuditedReport = Pick<PaymentReport, 'source' | 'outTradeNo' | 'notifyId' | 'tradeStatus' | 'raw'> & { orderId?: number };

export async function recordEvent(tx: Tx | Db, report: AuditedReport, verified: boolean, outcome: EventOutcome, reason?: string) {
  await tx.paymentEvent.create({
    data: {
      source: report.source,
      orderId: report.orderId ?? null,
      outTradeNo: optionalText(report.outTradeNo, 64),
      notifyId: optionalText(report.notifyId, 128),
      tradeStatus: optionalText(report.tradeStatus, 32),
      verified,
      outcome,
      reason: optionalText(reason, 500),
      rawBody: storableText(report.raw, RAW_LIMIT),
    },
  });
}
