// "typical": the official alipay-sdk for signing and verification, configured with PEM strings.
import { AlipaySdk } from 'alipay-sdk';
import { env, startBaseline } from './common.js';

const sdk = new AlipaySdk({
  appId: env.appId,
  privateKey: env.appPrivateKey,
  alipayPublicKey: env.alipayPublicKey,
  gateway: env.gateway,
  signType: 'RSA2',
  keyType: 'PKCS8',
});

startBaseline({
  verifyNotification: (fields) => sdk.checkNotifySign(fields),
  pagePayUrl: (bizContent, notifyUrl, returnUrl) => sdk.pageExecute('alipay.trade.page.pay', 'GET', { bizContent, notifyUrl, returnUrl }),
});
