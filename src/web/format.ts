/** 2026-11-25 21:51:52 (Beijing time): the shop's customers and Alipay's console think in UTC+8. */
export function formatBeijingTime(date: Date): string {
  const iso = new Date(date.getTime() + 8 * 60 * 60 * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} (Beijing time)`;
}
