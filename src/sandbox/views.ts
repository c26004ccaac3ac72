import path from 'node:path';
import ejs from 'ejs';
import type { Response } from 'express';
import { formatAlipayTime } from '../alipay/index.js';
import { PROJECT_ROOT } from '../paths.js';
import { amount, type SandboxTrade } from './trades.js';

const VIEWS = path.join(PROJECT_ROOT, 'views', 'sandbox');

export function yuan(fen: bigint | number): string {
  return `¥${amount(fen)}`;
}

export function beijing(date: Date | null | undefined): string {
  return date ? formatAlipayTime(date) : '';
}

export function timeLeft(ms: number): string {
  if (ms <= 0) return 'expired';
  const minutes = Math.floor(ms / 60_000);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  return [d ? `${d} d` : '', h ? `${h} h` : '', `${m} min`].filter(Boolean).join(' ');
}

export function returnOrigin(url: string | null): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? `${parsed.origin}/` : undefined;
  } catch {
    return undefined;
  }
}

export interface MessagePage {
  title: string;
  heading: string;
  lines: string[];
  tone: string;
  outcome: string;
  trade?: SandboxTrade;
  link?: { href: string; label: string } | undefined;
}

export function createViews(deps: { basePath: string; gatewayPath: string }) {
  const { basePath, gatewayPath } = deps;

  async function render(res: Response, view: string, data: Record<string, unknown>, status = 200): Promise<void> {
    const html = await ejs.renderFile(path.join(VIEWS, `${view}.ejs`), { basePath, gatewayPath, ...data }, { async: false });
    res.status(status).type('html').set('Cache-Control', 'no-store').send(html);
  }

  function message(res: Response, m: MessagePage): Promise<void> {
    const { trade, ...rest } = m;
    return render(res, 'message', {
      ...rest,
      trade: trade && { outTradeNo: trade.outTradeNo, tradeNo: trade.tradeNo, amount: yuan(trade.totalFen), status: trade.status },
    });
  }

  return { render, message };
}

export type Views = ReturnType<typeof createViews>;
