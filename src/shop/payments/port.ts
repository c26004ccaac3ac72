import type { PaymentEventSource } from '../../generated/prisma/client.js';
import { ShopError } from '../errors.js';

/** What the payment provider says about one trade, already verified, in the shop's words. */
export interface PaymentReport {
  source: PaymentEventSource;
  outTradeNo: string;
  /** Checked against ours for notifications; queries are made with our own app id. */
  appId?: string;
  sellerId?: string;
  tradeNo?: string;
  amountFen: number;
  state: 'waiting' | 'paid' | 'closed';
  buyerLogonId?: string;
  paidAt?: Date;
  closedAt?: Date;
  /** Refund events carry the cumulative refunded amount. */
  refund?: { refundedFen: number; at: Date };
  notifyId?: string;
  tradeStatus?: string;
  /** The message as received, kept for audit. */
  raw: string;
}

/** Who we are at the provider: reports for another app or seller are refused. */
export interface Merchant {
  appId: string;
  sellerId?: string;
}

/** The payment provider as the shop needs it for active checks (implemented over Alipay's OpenAPI in src/payments/). */
export interface PaymentProvider {
  merchant: Merchant;
  /** What the provider knows about the trade; null when it never saw it (the buyer never reached the cashier). */
  lookup(outTradeNo: string): Promise<PaymentReport | null>;
  /** Makes the trade unpayable. 'busy' when it was paid or closed meanwhile (look it up again). */
  close(outTradeNo: string): Promise<'closed' | 'not-found' | 'busy'>;
  /**
   * Asks for a refund identified by `outRequestNo` (the same request sent again never refunds
   * twice). Throws when the answer is unknown (timeout, 5xx, unreadable): settle with queryRefund.
   */
  refund(req: RefundRequest): Promise<RefundAnswer>;
  /** What became of one refund request. Throws when the provider cannot be asked. */
  queryRefund(req: { outTradeNo: string; outRequestNo: string }): Promise<RefundQueryAnswer>;
}

export interface RefundRequest {
  outTradeNo: string;
  outRequestNo: string;
  amountFen: number;
  reason?: string;
}

export type RefundAnswer =
  /** `moved` false: the provider did not confirm that money moved by this call (settle with queryRefund). `refundedFen` is the trade's cumulative refunded amount. */
  | { outcome: 'refunded'; moved: boolean; refundedFen: number; tradeNo: string }
  /** A definite no (too much, trade not refundable, …); `retry` when the provider asks to send the same request again. */
  | { outcome: 'refused'; reason: string; retry: boolean };

export type RefundQueryAnswer =
  | { outcome: 'done'; amountFen: number }
  | { outcome: 'pending'; detail: string }
  /** The provider has no such refund (not made — the same request may be sent again). */
  | { outcome: 'not-found' };

/** The provider answered, but with a business error the shop cannot act on (e.g. no permission). */
export class PaymentProviderError extends ShopError {
  override name = 'PaymentProviderError';
}
