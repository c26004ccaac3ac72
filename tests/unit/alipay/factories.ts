import { generateKeyPairSync, type KeyObject } from 'node:crypto';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function makeKeyPair(bits = 2048): KeyPair {
  return generateKeyPairSync('rsa', { modulusLength: bits });
}

/** A realistic trade_status_sync notification as Alipay sends it (before sign/sign_type). */
export function buildTradeFields(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    gmt_create: '2026-11-25 10:00:00',
    charset: 'utf-8',
    seller_email: 'seller@example.com',
    subject: '测试商品 Test goods',
    buyer_id: '2088102177846880',
    invoice_amount: '19.00',
    notify_id: '2026112500222100000012345678901234',
    fund_bill_list: '[{"amount":"19.00","fundChannel":"ALIPAYACCOUNT"}]',
    notify_type: 'trade_status_sync',
    trade_status: 'TRADE_SUCCESS',
    receipt_amount: '19.00',
    buyer_pay_amount: '19.00',
    app_id: '2021000122600000',
    seller_id: '2088102177649450',
    gmt_payment: '2026-11-25 10:00:05',
    notify_time: '2026-11-25 10:00:06',
    version: '1.0',
    out_trade_no: 'ORDER_20261125_0001',
    total_amount: '19.00',
    trade_no: '2026112522001446880500000001',
    auth_app_id: '2021000122600000',
    buyer_logon_id: 'abc***@example.com',
    point_amount: '0.00',
    ...overrides,
  };
}
