// Protocol overhead vs raw RSA: run with `npx tsx bench/alipay.ts`. Target ratio ≥ 0.9×.
import { generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { buildPagePayParams, buildSignString, signNotification, verifyNotification } from '../src/alipay/index.js';
import { buildNotification as buildTradeFields } from '../tests/support/notifications.js';

const DURATION_MS = Number(process.env['BENCH_MS'] ?? 2500);

function measure(name: string, fn: () => unknown): number {
  for (let i = 0; i < 50; i++) fn(); // warm up
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(DURATION_MS) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 20; i++) fn();
    ops += 20;
    now = process.hrtime.bigint();
  }
  const perSec = ops / (Number(now - start) / 1e9);
  console.log(`${name.padEnd(44)} ${perSec.toFixed(0).padStart(8)} ops/s`);
  return perSec;
}

const app = generateKeyPairSync('rsa', { modulusLength: 2048 });
const alipay = generateKeyPairSync('rsa', { modulusLength: 2048 });
const now = new Date();

const pagePay = () =>
  buildPagePayParams({
    appId: '2021000122600000',
    privateKey: app.privateKey,
    kind: 'page',
    outTradeNo: 'ORDER_20261125_0001',
    totalAmountFen: 1990,
    subject: '测试商品 Test goods',
    notifyUrl: 'https://shop.example.com/alipay/notify',
    returnUrl: 'https://shop.example.com/orders/ORDER_20261125_0001/return',
    timeExpire: new Date(now.getTime() + 30 * 60_000),
    now,
  });
const { sign: _sign, ...unsigned } = pagePay();
const requestBytes = Buffer.from(buildSignString(unsigned), 'utf8');

// The realistic 23-field trade_status_sync notification the unit tests use.
const fields = buildTradeFields();
const body = Buffer.from(signNotification(fields, alipay.privateKey));
const verified = verifyNotification(body, alipay.publicKey);
const notifyBytes = Buffer.from(verified.signString, 'utf8');
const notifySig = Buffer.from(verified.fields['sign'] ?? '', 'base64');

console.log(`(~${DURATION_MS} ms each, RSA-2048, node ${process.version})`);
const a1 = measure('buildPagePayParams (sign)', pagePay);
const a2 = measure('raw crypto.sign sha256, same-length buffer', () =>
  cryptoSign('sha256', requestBytes, app.privateKey),
);
const b1 = measure('verifyNotification (realistic body)', () => verifyNotification(body, alipay.publicKey));
const b2 = measure('raw crypto.verify sha256, same string', () =>
  cryptoVerify('sha256', notifyBytes, alipay.publicKey, notifySig),
);
console.log(`sign ratio:   ${(a1 / a2).toFixed(3)}×`);
console.log(`verify ratio: ${(b1 / b2).toFixed(3)}×`);
