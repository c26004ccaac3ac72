// Certificate mode, second opinion from the official Node SDK (devDependency only; never imported by src/).
import { AlipaySdk } from 'alipay-sdk';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildPagePayParams,
  certificateSn,
  parseCertificates,
  privateKeyToPem,
  rootCertSn,
  signApiRequest,
  type CertSns,
} from '../../../src/alipay/index.js';
import { generateSandboxCa } from '../../../src/sandbox/ca.js';
import { makeKeyPair, type KeyPair } from './factories.js';

const APP_ID = '2021000122600000';
let app: KeyPair;
let sdk: AlipaySdk;
let certSns: CertSns;

beforeAll(async () => {
  app = makeKeyPair();
  const alipay = makeKeyPair();
  const ca = await generateSandboxCa();
  const appCert = await ca.issue({ commonName: APP_ID, unit: APP_ID, publicKey: app.publicKey });
  const alipayCert = await ca.issue({ commonName: 'Alipay', publicKey: alipay.publicKey });
  sdk = new AlipaySdk({
    appId: APP_ID,
    privateKey: privateKeyToPem(app.privateKey),
    keyType: 'PKCS8',
    appCertContent: appCert,
    alipayPublicCertContent: alipayCert,
    alipayRootCertContent: ca.rootBundlePem,
    gateway: 'https://openapi-sandbox.dl.alipaydev.com/gateway.do',
  });
  certSns = {
    appCertSn: certificateSn(parseCertificates(appCert, 'app')[0]!),
    alipayRootCertSn: rootCertSn(parseCertificates(ca.rootBundlePem, 'root')).sn,
  };
}, 60_000);

describe('certificate mode: requests byte-identical to alipay-sdk', () => {
  it.each(['测试商品', 'a&b=c+d %41'])('page pay parameters and signature (subject %j)', (subject) => {
    const ours = buildPagePayParams({
      appId: APP_ID,
      privateKey: app.privateKey,
      kind: 'page',
      outTradeNo: 'ORDER_1',
      totalAmountFen: 1990,
      subject,
      notifyUrl: 'https://shop.example.com/alipay/notify',
      returnUrl: 'https://shop.example.com/return',
      timeExpire: new Date('2026-11-25T03:00:00Z'),
      now: new Date('2026-11-25T02:00:00Z'),
      certSns,
    });
    expect(ours['app_cert_sn']).toBe(certSns.appCertSn);
    expect(ours['alipay_root_cert_sn']).toBe(certSns.alipayRootCertSn);
    const query = sdk.sdkExecute(
      'alipay.trade.page.pay',
      {
        bizContent: JSON.parse(ours['biz_content'] ?? '{}'),
        notifyUrl: ours['notify_url'],
        returnUrl: ours['return_url'],
        timestamp: ours['timestamp'],
        format: 'JSON',
      },
      { bizContentAutoSnakeCase: false },
    );
    const theirs = Object.fromEntries(new URLSearchParams(query));
    expect(theirs).toEqual(ours);
    expect(theirs['sign']).toBe(ours['sign']);
  });

  it('OpenAPI request parameters (alipay.trade.query) and signature', () => {
    const ours = signApiRequest({
      appId: APP_ID,
      method: 'alipay.trade.query',
      privateKey: app.privateKey,
      signType: 'RSA2',
      timestamp: new Date('2026-11-25T02:00:00Z'),
      biz: { out_trade_no: 'ORDER_1' },
      certSns,
    });
    const query = sdk.sdkExecute(
      'alipay.trade.query',
      { bizContent: { out_trade_no: 'ORDER_1' }, timestamp: ours['timestamp'], format: 'JSON' },
      { bizContentAutoSnakeCase: false },
    );
    expect(Object.fromEntries(new URLSearchParams(query))).toEqual(ours);
  });

  it('without certificates no SN parameter is sent (key mode unchanged)', () => {
    const ours = signApiRequest({ appId: APP_ID, method: 'alipay.trade.query', privateKey: app.privateKey, signType: 'RSA2', timestamp: new Date(), biz: {} });
    expect(Object.keys(ours)).not.toContain('app_cert_sn');
    expect(Object.keys(ours)).not.toContain('alipay_root_cert_sn');
  });
});
