import { fenToAmount, formatAlipayTime } from '../../src/alipay/index.js';

export interface NotifiedOrder {
  outTradeNo: string;
  totalFen: number;
}

/**
 * The one builder of test notifications: a realistic trade_status_sync notification as Alipay
 * sends it (fields before sign/sign_type). Given an order, it is that order paid just now.
 */
export function buildNotification(overrides: Record<string, string> = {}, order?: NotifiedOrder): Record<string, string> {
  const amount = order ? fenToAmount(order.totalFen) : '19.00';
  const now = order ? formatAlipayTime(new Date()) : undefined;
  return {
    gmt_create: now ?? '2026-11-25 10:00:00',
    charset: 'utf-8',
    seller_email: 'seller@example.com',
    subject: '测试商品 Test goods',
    buyer_id: '2088102177846880',
    invoice_amount: amount,
    notify_id: order ? `ntf${order.outTradeNo}` : '2026112500222100000012345678901234',
    fund_bill_list: `[{"amount":"${amount}","fundChannel":"ALIPAYACCOUNT"}]`,
    notify_type: 'trade_status_sync',
    trade_status: 'TRADE_SUCCESS',
    receipt_amount: amount,
    buyer_pay_amount: amount,
    app_id: '2021000122600000',
    seller_id: '2088102177649450',
    gmt_payment: now ?? '2026-11-25 10:00:05',
    notify_time: now ?? '2026-11-25 10:00:06',
    version: '1.0',
    out_trade_no: order?.outTradeNo ?? 'ORDER_20261125_0001',
    total_amount: amount,
    trade_no: order ? `2026112522001${order.outTradeNo.slice(-15).replace(/\D/g, '7')}` : '2026112522001446880500000001',
    auth_app_id: '2021000122600000',
    buyer_logon_id: 'abc***@example.com',
    point_amount: '0.00',
    ...overrides,
  };
}
