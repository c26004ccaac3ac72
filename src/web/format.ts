import { beijingDateTime } from '../lib/beijing-time.js';

/** 2026-11-25 21:51:52 (Beijing time): the shop's customers and Alipay's console think in UTC+8. */
export function formatBeijingTime(date: Date): string {
  return `${beijingDateTime(date)} (Beijing time)`;
}
