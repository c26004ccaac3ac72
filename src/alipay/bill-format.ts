// The trade bill (对账单) file format, shared by the reader and the writer. Alipay's layout:
// a zip named `<pid>0156_<yyyyMMdd>.csv.zip` holding GBK files with GBK entry names (no zip UTF-8
// flag): `<pid>0156_<yyyyMMdd>_业务明细.csv` and `<pid>0156_<yyyyMMdd>_业务明细(汇总).csv`.

export const DETAIL_SUFFIX = '_业务明细.csv';
export const SUMMARY_SUFFIX = '_业务明细(汇总).csv';

export const DETAIL_TITLE = '#支付宝业务明细查询';
export const SUMMARY_TITLE = '#支付宝业务汇总查询';

// start marker: `#` + 41 `-` + 业务明细列表 + 40 `-`; end marker: `#` + 41 `-` + 业务明细列表结束 + 36 `-`.
export const DETAIL_START = `#${'-'.repeat(41)}业务明细列表${'-'.repeat(40)}`;
export const DETAIL_END = `#${'-'.repeat(41)}业务明细列表结束${'-'.repeat(36)}`;
export const SUMMARY_START = `#${'-'.repeat(41)}业务汇总列表${'-'.repeat(40)}`;
export const SUMMARY_END = `#${'-'.repeat(41)}业务汇总列表结束${'-'.repeat(36)}`;

export const DETAIL_COLUMNS = [
  '支付宝交易号',
  '商户订单号',
  '业务类型',
  '商品名称',
  '创建时间',
  '完成时间',
  '门店编号',
  '门店名称',
  '操作员',
  '终端号',
  '对方账户',
  '订单金额（元）',
  '商家实收（元）',
  '支付宝红包（元）',
  '集分宝（元）',
  '支付宝优惠（元）',
  '商家优惠（元）',
  '券核销金额（元）',
  '券名称',
  '商家红包消费金额（元）',
  '卡消费金额（元）',
  '退款批次号/请求号',
  '服务费（元）',
  '分润（元）',
  '备注',
] as const;

export const SUMMARY_COLUMNS = [
  '门店编号',
  '门店名称',
  '交易订单总笔数',
  '退款订单总笔数',
  '订单金额（元）',
  '商家实收（元）',
  '支付宝优惠（元）',
  '商家优惠（元）',
  '卡消费金额（元）',
  '服务费（元）',
  '分润（元）',
  '实收净额（元）',
] as const;

export const COL = {
  tradeNo: 0,
  outTradeNo: 1,
  kind: 2,
  subject: 3,
  createdAt: 4,
  finishedAt: 5,
  counterparty: 10,
  orderAmount: 11,
  received: 12,
  outRequestNo: 21,
  serviceFee: 22,
  remark: 24,
} as const;

export const KIND_PAYMENT = '交易';
export const KIND_REFUND = '退款';

/** "2026-11-26" → "2026年11月26日" (the header's date style). */
export function chineseDate(isoDate: string): string {
  const [y, m, d] = isoDate.split('-');
  return `${y}年${m}月${d}日`;
}

/** Signed fen → "-0.04" / "12.30". */
export function signedAmount(fen: number): string {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

const SIGNED_AMOUNT = /^(-)?(0|[1-9]\d{0,11})(?:\.(\d{1,2}))?$/;

/** "-0.04" → -4; undefined when it is not an amount. */
export function parseSignedAmount(text: string): number | undefined {
  const m = SIGNED_AMOUNT.exec(text);
  if (!m) return undefined;
  const fen = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  return m[1] ? -fen : fen;
}
