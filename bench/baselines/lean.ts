// "lean": the same app, with node:crypto and the keys parsed once.
import { createPrivateKey, createPublicKey, createSign, createVerify } from 'node:crypto';
import { env, startBaseline } from './common.js';

const privateKey = createPrivateKey(env.appPrivateKey);
const publicKey = createPublicKey(env.alipayPublicKey);

const signingString = (params: Record<string, string>) =>
  Object.keys(params).sort().filter((k) => params[k] !== '').map((k) => `${k}=${params[k]}`).join('&');

function beijingNow(): string {
  return new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}

startBaseline({
  verifyNotification(fields) {
    const { sign, sign_type: _signType, ...rest } = fields;
    if (!sign) return false;
    return createVerify('RSA-SHA256').update(signingString(rest), 'utf8').verify(publicKey, sign, 'base64');
  },
  pagePayUrl(bizContent, notifyUrl, returnUrl) {
    const params: Record<string, string> = {
      app_id: env.appId, method: 'alipay.trade.page.pay', format: 'JSON', charset: 'utf-8', sign_type: 'RSA2',
      timestamp: beijingNow(), version: '1.0', notify_url: notifyUrl, return_url: returnUrl, biz_content: JSON.stringify(bizContent),
    };
    params.sign = createSign('RSA-SHA256').update(signingString(params), 'utf8').sign(privateKey, 'base64');
    return `${env.gateway}?${new URLSearchParams(params)}`;
  },
});
