import type { Prisma } from '../generated/prisma/client.js';

export type Tx = Prisma.TransactionClient;

export interface OrderEvent {
  orderId: number;
  outTradeNo: string;
}

/**
 * What the shop announces, inside the transaction that made it true, so a subscriber (the mail
 * outbox) writes in the same commit or not at all. Wired in src/wiring.ts; shop/ imports no
 * subscriber.
 */
export interface ShopEvents {
  orderPaid?(tx: Tx, event: OrderEvent): Promise<void>;
  /** orderPaid does nothing for guest orders (no shopper): their payments need not wait for it. */
  orderPaidIgnoresGuests?: boolean;
  orderRefunded?(tx: Tx, event: OrderEvent & { refundedFen: number; totalFen: number }): Promise<void>;
}

export const NO_EVENTS: ShopEvents = {};
