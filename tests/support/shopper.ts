import type { Express } from 'express';
import request from 'supertest';

/** A browser session: keeps cookies and knows the CSRF token of the last page it loaded. */
export async function shopper(app: Express) {
  const agent = request.agent(app);
  const page = await agent.get('/').expect(200);
  const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (!token) throw new Error('no CSRF token on the catalog page');
  return {
    agent,
    token,
    post(path: string, form: Record<string, string> = {}) {
      return agent.post(path).type('form').send({ _csrf: token, ...form });
    },
    async buy(goodsId: number, quantity = 1) {
      const res = await agent.post('/orders').type('form').send({ _csrf: token, goodsId: String(goodsId), quantity: String(quantity) });
      if (res.status !== 303) throw new Error(`buy answered ${res.status}: ${res.text.slice(0, 300)}`);
      const url = new URL(res.headers.location!);
      const biz = JSON.parse(url.searchParams.get('biz_content') ?? '{}') as Record<string, string>;
      return { res, url, biz, outTradeNo: biz.out_trade_no! };
    },
  };
}
