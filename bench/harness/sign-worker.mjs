// Signs distinct trade_status_sync notifications (as Alipay would) for the notify benchmark.
import { createPrivateKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

const { distAlipay, alipayPrivateKeyPem, appId, sellerId, outTradeNos } = workerData;
const { signNotification, formatAlipayTime } = await import(distAlipay);
const key = createPrivateKey(alipayPrivateKeyPem);
const now = formatAlipayTime(new Date());
const bodies = outTradeNos.map((outTradeNo, i) =>
  signNotification(
    {
      gmt_create: now, charset: 'utf-8', seller_email: 'seller@example.com', subject: 'bench', buyer_id: '2088102177846880',
      invoice_amount: '19.90', notify_id: `bench${outTradeNo}`, fund_bill_list: '[{"amount":"19.90","fundChannel":"ALIPAYACCOUNT"}]',
      notify_type: 'trade_status_sync', trade_status: 'TRADE_SUCCESS', receipt_amount: '19.90', buyer_pay_amount: '19.90',
      app_id: appId, seller_id: sellerId, gmt_payment: now, notify_time: now, version: '1.0', out_trade_no: outTradeNo,
      total_amount: '19.90', trade_no: `2026112722001${outTradeNo.slice(-16)}${i % 10}`.slice(0, 64), auth_app_id: appId,
      buyer_logon_id: 'abc***@example.com', point_amount: '0.00',
    },
    key,
  ),
);
parentPort.postMessage(bodies);
