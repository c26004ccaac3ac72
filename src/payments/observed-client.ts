import { AlipayTransportError, type AlipayClient } from '../alipay/index.js';

export type AlipayCallObserver = (method: string, outcome: string, seconds: number) => void;

const METHODS: Record<keyof AlipayClient, string> = {
  queryTrade: 'alipay.trade.query',
  closeTrade: 'alipay.trade.close',
  refund: 'alipay.trade.refund',
  queryRefund: 'alipay.trade.fastpay.refund.query',
  downloadBillUrl: 'alipay.data.dataservice.bill.downloadurl.query',
};

function outcomeOf(err: unknown): string {
  if (err instanceof AlipayTransportError) return err.timedOut ? 'timeout' : err.status !== undefined ? `http_${err.status}` : 'unreachable';
  return 'invalid_response';
}

/** The client with every OpenAPI call timed and reported (method, outcome, seconds) to `observe`. */
export function observedClient(client: AlipayClient, observe: AlipayCallObserver): AlipayClient {
  const wrapped = { ...client };
  for (const name of Object.keys(METHODS) as (keyof AlipayClient)[]) {
    const call = client[name] as (...args: unknown[]) => Promise<{ kind: string }>;
    (wrapped as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        const result = await call(...args);
        observe(METHODS[name], result.kind === 'business-error' ? 'business_error' : 'ok', seconds());
        return result;
      } catch (err) {
        observe(METHODS[name], outcomeOf(err), seconds());
        throw err;
      }
    };
  }
  return wrapped;
}
