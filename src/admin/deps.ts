import type { Db } from '../db/client.js';
import type { ShopEvents } from '../shop/events.js';
import type { MediaLibrary } from '../shop/goods-images.js';
import type { PaymentDeps } from '../shop/payments/confirm.js';
import type { PaymentProvider } from '../shop/payments/port.js';
import type { BillSource } from '../shop/payments/reconciliation.js';

export interface AdminDeps {
  db: Db;
  payments: PaymentProvider & BillSource;
  events: ShopEvents;
  media: MediaLibrary;
}

export function paymentDeps(deps: AdminDeps): PaymentDeps {
  return { db: deps.db, provider: deps.payments, events: deps.events };
}
