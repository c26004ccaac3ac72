import { BEIJING_OFFSET_MS } from '../lib/beijing-time.js';
import { formatYuan } from '../lib/money.js';
import type { AdminOrderDetail, AdminOrderRow, TimelineEntry } from '../shop/admin-orders.js';

/** ISO 8601 in Beijing time with its offset: 2026-11-25T21:51:52.000+08:00 */
export function isoBeijing(date: Date): string {
  return `${new Date(date.getTime() + BEIJING_OFFSET_MS).toISOString().slice(0, 23)}+08:00`;
}

export function itemsSummary(items: AdminOrderRow['items']): string {
  return items.map((i) => (i.quantity === 1 ? i.name : `${i.name} ×${i.quantity}`)).join('; ');
}

export function orderListJson(o: AdminOrderRow) {
  return {
    outTradeNo: o.outTradeNo,
    status: o.status,
    totalAmount: formatYuan(o.totalFen),
    refundedAmount: formatYuan(o.refundedFen),
    tradeNo: o.tradeNo,
    buyerLogonId: o.buyerLogonId,
    createdAt: isoBeijing(o.createdAt),
    paidAt: o.paidAt ? isoBeijing(o.paidAt) : null,
    attention: o.attention,
    items: o.items.map((i) => ({ name: i.name, quantity: i.quantity, unitPrice: formatYuan(i.unitPriceFen), amount: formatYuan(i.unitPriceFen * i.quantity) })),
  };
}

export function timelineJson(t: TimelineEntry) {
  return { at: isoBeijing(t.at), kind: t.kind, outcome: t.outcome, detail: t.actor ? `${t.detail} (by ${t.actor})` : t.detail };
}

export function orderDetailJson({ order, timeline }: AdminOrderDetail) {
  return {
    ...orderListJson(order),
    refunds: order.refunds.map((r) => ({
      outRequestNo: r.outRequestNo,
      amount: formatYuan(r.amountFen),
      status: r.status,
      reason: r.reason,
      operator: r.operator?.email ?? null,
      createdAt: isoBeijing(r.createdAt),
    })),
    timeline: timeline.map(timelineJson),
  };
}

// A cell that starts with = + - @ is a formula to Excel: prefix it so it stays text.
function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export const CSV_HEADER = ['Order no.', 'Created (Beijing)', 'Items', 'Total', 'Status', 'Paid at (Beijing)', 'Alipay trade no.', 'Buyer', 'Refunded', 'Attention'];

export function csvLine(cells: string[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}
