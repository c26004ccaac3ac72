import type { Db } from '../db/client.js';
import type { Tx } from './events.js';
import { storableText } from './payments/audit.js';

/** Who asked for a change: an operator, or the shop itself (a scheduled check). */
export interface Actor {
  id: number | null;
  email: string;
}

export const SYSTEM_ACTOR: Actor = { id: null, email: 'system' };

/** One line of the "who did what" log; call it inside the transaction that makes the change. */
export async function recordAction(
  tx: Tx | Db,
  actor: Actor,
  entry: { orderId: number | null; goodsId?: number; action: string; outcome: string; detail?: string },
): Promise<void> {
  await tx.operatorAction.create({
    data: {
      operatorId: actor.id,
      operatorEmail: storableText(actor.email, 254),
      orderId: entry.orderId,
      goodsId: entry.goodsId ?? null,
      action: entry.action,
      outcome: entry.outcome,
      detail: entry.detail === undefined ? null : storableText(entry.detail, 2000),
    },
  });
}
