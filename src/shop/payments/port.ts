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
}

/** The provider answered, but with a business error the shop cannot act on (e.g. no permission). */
export class PaymentProviderError extends ShopError {
  override name = 'PaymentProviderError';
}
