export interface NotificationHints {
  outTradeNo?: string;
  notifyId?: string;
  tradeStatus?: string;
}

function peekField(raw: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|&)${name}=([^&]*)`).exec(raw);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1].replace(/\+/g, ' ')).replaceAll('\u0000', '');
  } catch {
    return undefined;
  }
}

/**
 * What a notification that failed verification claims to be about, read leniently and never
 * trusted: only to file the rejected body next to the order an operator will look at.
 */
export function peekNotification(raw: string): NotificationHints {
  return { outTradeNo: peekField(raw, 'out_trade_no'), notifyId: peekField(raw, 'notify_id'), tradeStatus: peekField(raw, 'trade_status') };
}
