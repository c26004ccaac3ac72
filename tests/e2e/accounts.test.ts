// End-to-end: a shopper signs up, confirms the email from the dev mailbox (/dev/mail: no SMTP_URL,
// so the app writes its mail to files), signs in, buys, pays on the sandbox cashier and reads the
// receipt email. Skipped like shop.test.ts when no Chromium is installed (unless REQUIRE_E2E=1).
import type { BrowserContext, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { screenshots, type Shots } from './support/browser.js';
import { ui } from './support/expect.js';
import { e2eGate, useShopAndBrowser } from './support/suite.js';

const gate = e2eGate();

describe.skipIf(gate.skip)('a shopper account in a browser', () => {
  const env = useShopAndBrowser(gate, { logName: 'shop-accounts-app.log', env: { MAIL_POLL_MS: '200' } });
  let context: BrowserContext | undefined;
  let current: { page: Page; shots: Shots } | undefined;
  const problems: string[] = [];

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && current) {
      await current.shots.take(current.page, 'failure').catch(() => {});
      console.error(`e2e: "${task.name}" failed on ${current.page.url()}; screenshots in ${current.shots.dir}, app log in ${env.shop.logFile}`);
    }
    current = undefined;
    await context?.close();
    context = undefined;
  });

  /** Opens the newest dev-mailbox message whose subject contains `subject` (waiting for the outbox worker). */
  async function openMail(page: Page, subject: string) {
    const link = page.locator('#dev-mail a', { hasText: subject });
    await expect
      .poll(
        async () => {
          await page.goto('/dev/mail');
          return link.count();
        },
        { timeout: 15_000, interval: 300 },
      )
      .toBeGreaterThan(0);
    await link.first().click();
    await ui.containsText(page.locator('#mail-subject'), subject);
  }

  it('sign up, confirm the email from the dev mailbox, buy, pay, read the receipt', async ({ task }) => {
    const shots = await screenshots(task.name);
    context = await env.browser.newContext({ baseURL: env.shop.url, locale: 'en-US', viewport: { width: 1100, height: 800 } });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`pageerror on ${page.url()}: ${err.message}`));
    page.on('response', (res) => {
      if (res.status() >= 400 && new URL(res.url()).pathname !== '/favicon.ico') problems.push(`HTTP ${res.status()} for ${res.url()}`);
    });
    current = { page, shots };
    const email = `e2e.${Date.now()}@example.com`;
    const password = 'e2e browser password';

    await page.goto('/');
    await page.locator('#nav-signin').click();
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.locator('#signup-form input[name=email]').fill(email);
    await page.locator('#signup-form input[name=password]').fill(password);
    await page.locator('#signup-form button[type=submit]').click();
    await ui.attribute(page.locator('#check-mailbox'), 'data-reason', 'signup');
    await shots.take(page, 'check-mailbox');

    await openMail(page, 'Confirm your email');
    await ui.text(page.locator('#mail-to'), email);
    await shots.take(page, 'verification-mail');
    await page.locator('#mail-text a[href*="/account/verify?token="]').first().click();
    await ui.containsText(page.locator('#verified'), email);

    await page.getByRole('link', { name: 'Sign in' }).first().click();
    await page.locator('#signin-form input[name=email]').fill(email);
    await page.locator('#signin-form input[name=password]').fill(password);
    await page.locator('#signin-form button[type=submit]').click();
    await page.waitForURL((url) => url.pathname === '/account');
    await ui.text(page.locator('#account-email'), email);
    await ui.text(page.locator('#account-verified'), 'confirmed');
    await ui.count(page.locator('#verify-reminder'), 0);
    await shots.take(page, 'account');

    await page.goto('/');
    const goods = page.locator('.goods-card', { hasText: 'Longjing' });
    await goods.locator('input[name=quantity]').fill('1');
    await goods.getByRole('button', { name: 'Buy now' }).click();
    await page.waitForURL(/\/sandbox\/cashier\/[^/?#]+$/);
    const outTradeNo = (await page.locator('#sandbox-out-trade-no').textContent())?.trim() ?? '';
    expect(outTradeNo).not.toBe('');
    await page.locator('#sandbox-pay').click();
    await page.waitForURL((url) => url.pathname === `/orders/${outTradeNo}`);
    await ui.text(page.locator('#order-status'), 'PAID', { timeout: 15_000 });
    await ui.containsText(page.locator('#order-buyer'), email);
    await shots.take(page, 'paid');

    await openMail(page, `Payment received · ${outTradeNo}`);
    await ui.text(page.locator('#mail-to'), email);
    await ui.containsText(page.locator('#mail-text'), '龙井绿茶 Longjing Green Tea');
    await ui.containsText(page.locator('#mail-text'), 'Total: ¥128.00');
    await shots.take(page, 'receipt-mail');
    await page.locator(`#mail-text a[href$="/orders/${outTradeNo}"]`).first().click();
    await ui.text(page.locator('#order-status'), 'PAID');

    // The account's orders list it.
    await page.goto('/orders');
    await ui.containsText(page.locator('main tbody tr', { hasText: outTradeNo }), 'PAID');
    expect(problems).toEqual([]);
  });
});
