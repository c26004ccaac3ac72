import { beijingDateTime } from '../lib/beijing-time.js';
import { formatPrice } from '../lib/money.js';

// Every message in Chinese first, then English; a plain-text part and an HTML part with the same
// content. Subjects and names may hold Chinese: nodemailer encodes headers (RFC 2047) and bodies.

export interface MailContent {
  subject: string;
  text: string;
  html: string;
}

const SHOP = '支付宝商店 Alipay Shop';

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

type Block = { p: string } | { link: string; label: string } | { table: string[][] };

function render(subject: string, zh: Block[], en: Block[]): MailContent {
  const textOf = (blocks: Block[]) =>
    blocks
      .map((b) => ('p' in b ? b.p : 'link' in b ? `${b.label}:\n${b.link}` : b.table.map((row) => row.join('  ')).join('\n')))
      .join('\n\n');
  const htmlOf = (blocks: Block[], lang: string) =>
    `<div lang="${lang}">` +
    blocks
      .map((b) => {
        if ('p' in b) return `<p>${escapeHtml(b.p)}</p>`;
        if ('link' in b) return `<p><a href="${escapeHtml(b.link)}">${escapeHtml(b.label)}</a><br><small>${escapeHtml(b.link)}</small></p>`;
        return `<table cellpadding="4" style="border-collapse:collapse">${b.table
          .map((row) => `<tr>${row.map((cell, i) => `<td${i > 0 ? ' align="right"' : ''}>${escapeHtml(cell)}</td>`).join('')}</tr>`)
          .join('')}</table>`;
      })
      .join('') +
    '</div>';
  const text = `${textOf(zh)}\n\n----------\n\n${textOf(en)}\n\n-- \n${SHOP}\n`;
  const html =
    `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>` +
    `<body style="font-family:sans-serif;line-height:1.5">${htmlOf(zh, 'zh-CN')}<hr>${htmlOf(en, 'en')}<p style="color:#888">${escapeHtml(SHOP)}</p></body></html>`;
  return { subject, text, html };
}

export function verifyEmailMessage(input: { email: string; link: string }): MailContent {
  return render(
    '请确认您的邮箱 Confirm your email',
    [{ p: `您好！您用 ${input.email} 注册了账户。请点击下面的链接确认邮箱（48 小时内有效，只能使用一次）：` }, { link: input.link, label: '确认邮箱' }, { p: '如果不是您本人操作，请忽略此邮件。' }],
    [
      { p: `Hello! An account was created with ${input.email}. Confirm your email with this link (valid for 48 hours, works once):` },
      { link: input.link, label: 'Confirm my email' },
      { p: 'If this was not you, ignore this email.' },
    ],
  );
}

export function signUpExistingMessage(input: { email: string; signInLink: string; resetLink: string }): MailContent {
  return render(
    '有人尝试用您的邮箱注册 Someone tried to sign up with your email',
    [
      { p: `有人尝试用 ${input.email} 注册新账户，但这个邮箱已经有账户了。如果是您本人，请直接登录；忘记密码可以重设。` },
      { link: input.signInLink, label: '登录' },
      { link: input.resetLink, label: '重设密码' },
      { p: '如果不是您本人操作，请忽略此邮件，您的账户没有任何变化。' },
    ],
    [
      { p: `Someone tried to sign up with ${input.email}, which already has an account. If it was you, sign in, or reset your password if you forgot it.` },
      { link: input.signInLink, label: 'Sign in' },
      { link: input.resetLink, label: 'Reset my password' },
      { p: 'If this was not you, ignore this email: nothing changed in your account.' },
    ],
  );
}

export function passwordResetMessage(input: { email: string; link: string }): MailContent {
  return render(
    '重设密码 Reset your password',
    [
      { p: `我们收到了为 ${input.email} 重设密码的请求。请在 30 分钟内点击下面的链接设置新密码（只能使用一次）。设置后，其他设备上的登录都会退出。` },
      { link: input.link, label: '设置新密码' },
      { p: '如果不是您本人操作，请忽略此邮件，密码不会改变。' },
    ],
    [
      { p: `We received a request to reset the password of ${input.email}. Set a new password with this link within 30 minutes (it works once). Doing so signs you out everywhere else.` },
      { link: input.link, label: 'Set a new password' },
      { p: 'If this was not you, ignore this email: your password stays the same.' },
    ],
  );
}

export interface ReceiptOrder {
  outTradeNo: string;
  totalFen: number;
  paidAt: Date | null;
  items: { name: string; unitPriceFen: number; quantity: number }[];
}

function itemsTable(order: ReceiptOrder, headers: string[]): string[][] {
  return [headers, ...order.items.map((i) => [i.name, `${i.quantity} × ${formatPrice(i.unitPriceFen)}`, formatPrice(i.unitPriceFen * i.quantity)])];
}

export function paymentReceivedMessage(input: { order: ReceiptOrder; link: string; unverified?: boolean }): MailContent {
  const { order } = input;
  const paid = order.paidAt ? beijingDateTime(order.paidAt) : '';
  return render(
    `付款成功 Payment received · ${order.outTradeNo}`,
    [
      { p: `我们已收到您的付款，谢谢！订单号：${order.outTradeNo}${paid ? `，付款时间：${paid}（北京时间）` : ''}。` },
      { table: itemsTable(order, ['商品', '数量 × 单价', '金额']) },
      { p: `合计：${formatPrice(order.totalFen)}` },
      { link: input.link, label: '查看订单' },
      ...(input.unverified ? [{ p: '提醒：您的邮箱还没有确认，请在账户页面确认。' }] : []),
    ],
    [
      { p: `We received your payment, thank you! Order ${order.outTradeNo}${paid ? `, paid ${paid} (Beijing time)` : ''}.` },
      { table: itemsTable(order, ['Item', 'Qty × price', 'Amount']) },
      { p: `Total: ${formatPrice(order.totalFen)}` },
      { link: input.link, label: 'View your order' },
      ...(input.unverified ? [{ p: 'Reminder: your email is not confirmed yet; confirm it on your account page.' }] : []),
    ],
  );
}

export function refundMadeMessage(input: { outTradeNo: string; refundedFen: number; totalFen: number; link: string }): MailContent {
  const left = Math.max(0, input.totalFen - input.refundedFen);
  return render(
    `退款已办理 Refund made · ${input.outTradeNo}`,
    [
      { p: `订单 ${input.outTradeNo} 已退款，累计退款 ${formatPrice(input.refundedFen)}（订单金额 ${formatPrice(input.totalFen)}，剩余 ${formatPrice(left)}）。款项将按原路退回您的支付宝账户。` },
      { link: input.link, label: '查看订单' },
    ],
    [
      { p: `Order ${input.outTradeNo} was refunded: ${formatPrice(input.refundedFen)} in total so far (order total ${formatPrice(input.totalFen)}, ${formatPrice(left)} left). The money goes back to your Alipay account.` },
      { link: input.link, label: 'View your order' },
    ],
  );
}
