// End-to-end: the operator console in a browser, against the real app (embedded PostgreSQL,
// built-in sandbox): a shopper pays, the first operator (admin@localhost, password from
// DATA_DIR/operator-password.txt) signs in, finds the order, refunds part of it, reads the
// timeline and the dashboard.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { screenshots } from './support/browser.js';
import { ui } from './support/expect.js';
import { e2eGate, useShopAndBrowser } from './support/suite.js';

const gate = e2eGate();

describe.skipIf(gate.skip)('the operator console in a browser', () => {
  const env = useShopAndBrowser(gate, { logName: 'admin-app.log' });
  const contexts: BrowserContext[] = [];
  let problems: string[] = [];

  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close();
  });

  async function newPage(): Promise<Page> {
    const context = await env.browser.newContext({ baseURL: env.shop.url, locale: 'en-US', viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    context.setDefaultTimeout(10_000);
    context.setDefaultNavigationTimeout(15_000);
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`pageerror on ${page.url()}: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && new URL(msg.location().url || page.url()).pathname !== '/favicon.ico') problems.push(`console.error: ${msg.text()}`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
    });
    return page;
  }

  it('sign in, find the order just paid, refund part of it, see the timeline and the dashboard', async ({ task }) => {
    problems = [];
    const shots = await screenshots(task.name);

    // A shopper buys and pays on the sandbox cashier.
    const shopperPage = await newPage();
    await shopperPage.goto('/');
    const goods = shopperPage.locator('.goods-card', { hasText: 'Longjing' });
    await goods.getByRole('button', { name: 'Buy now' }).click();
    await shopperPage.waitForURL(/\/sandbox\/cashier\/[^/?#]+$/);
    const outTradeNo = (await shopperPage.locator('#sandbox-out-trade-no').textContent())?.trim() ?? '';
    await shopperPage.locator('#sandbox-pay').click();
    await shopperPage.waitForURL((url) => url.pathname === `/orders/${outTradeNo}`);
    await ui.text(shopperPage.locator('#order-status'), 'PAID', { timeout: 15_000 });

    // The operator: signed out, /admin/orders leads to the sign-in page and back.
    const page = await newPage();
    await page.goto('/admin/orders');
    await page.waitForURL((url) => url.pathname === '/admin/login' && url.searchParams.get('next') === '/admin/orders');
    const password = (await readFile(path.join(env.shop.dataDir, 'operator-password.txt'), 'utf8')).trim();
    await page.locator('input[name=email]').fill('admin@localhost');
    await page.locator('input[name=password]').fill(password);
    await shots.take(page, 'sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.pathname === '/admin/orders');
    await ui.containsText(page.locator('#signed-in-as'), 'admin@localhost');

    // Find the order: newest first, and by search.
    await ui.containsText(page.locator('#orders-table tbody tr').first(), outTradeNo);
    await page.locator('#order-filters input[name=q]').fill(outTradeNo.slice(0, 16));
    await page.locator('#order-filters').getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL((url) => url.searchParams.get('q') === outTradeNo.slice(0, 16));
    const row = page.locator(`#orders-table tr[data-out-trade-no="${outTradeNo}"]`);
    await ui.containsText(row, 'PAID');
    await shots.take(page, 'orders');
    await row.getByRole('link', { name: outTradeNo }).click();
    await page.waitForURL((url) => url.pathname === `/admin/orders/${outTradeNo}`);
    await ui.text(page.locator('#order-status'), 'PAID');

    // Refund ¥10.00 of ¥128.00.
    await page.locator('#refund-form input[name=amount]').fill('10.00');
    await page.locator('#refund-form input[name=reason]').fill('包装破损 damaged box');
    await shots.take(page, 'refund-form');
    await page.locator('#refund-submit').click();
    await page.waitForURL((url) => url.pathname === `/admin/orders/${outTradeNo}`);
    await ui.containsText(page.locator('#refunds tbody tr'), 'SUCCEEDED');
    await ui.text(page.locator('#refunded'), '¥10.00');
    await ui.text(page.locator('#order-status'), 'PAID');
    await ui.containsText(page.locator('#timeline li.timeline-created'), 'order placed');
    await ui.containsText(page.locator('#timeline li.timeline-refund', { hasText: 'refund refunded' }), '¥10.00');
    expect(await page.locator('#timeline li.timeline-notification').count()).toBeGreaterThanOrEqual(1);
    // The sandbox's refund notification arrives too; the refunded amount stays ¥10.00 (counted once).
    await expect
      .poll(async () => {
        await page.reload();
        return page.locator('#timeline li.timeline-notification').count();
      }, { timeout: 15_000, interval: 500 })
      .toBeGreaterThanOrEqual(2);
    await ui.text(page.locator('#refunded'), '¥10.00');
    await shots.take(page, 'timeline');

    // The dashboard: revenue net of the refund, the chart and its table.
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.waitForURL((url) => url.pathname === '/admin');
    await ui.text(page.locator('#revenue-today'), '¥118.00');
    await ui.visible(page.locator('#chart svg.revenue-chart'));
    await ui.count(page.locator('#chart svg title#chart-title'), 1);
    await shots.take(page, 'dashboard');

    await page.locator('form[action="/admin/logout"] button').click();
    await page.waitForURL((url) => url.pathname === '/admin/login');
    expect(problems).toEqual([]);
  });

  it('an operator adds a goods with a picture, and a shopper buys it from the catalog', async ({ task }) => {
    problems = [];
    const shots = await screenshots(task.name);
    const page = await newPage();
    await page.goto('/admin/goods/new');
    await page.waitForURL((url) => url.pathname === '/admin/login');
    const password = (await readFile(path.join(env.shop.dataDir, 'operator-password.txt'), 'utf8')).trim();
    await page.locator('input[name=email]').fill('admin@localhost');
    await page.locator('input[name=password]').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.pathname === '/admin/goods/new');

    await page.locator('#goods-form input[name=name]').fill('青花瓷碗 Blue-and-white bowl');
    await page.locator('#goods-form input[name=price]').fill('66.60');
    await page.locator('#goods-form textarea[name=description]').fill('景德镇手绘。\nHand-painted in Jingdezhen.');
    await page.locator('#goods-form').getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/admin\/goods\/\d+$/);
    const picture = await sharp({ create: { width: 1400, height: 1000, channels: 3, background: '#1d4ed8' } }).jpeg().toBuffer();
    await page.locator('#upload-form input[type=file]').setInputFiles({ name: 'bowl.jpg', mimeType: 'image/jpeg', buffer: picture });
    await page.locator('#upload-form').getByRole('button', { name: 'Upload' }).click();
    await page.waitForURL((url) => url.hash === '#images');
    await ui.count(page.locator('.image-list li'), 1);
    await ui.containsText(page.locator('#goods-history'), 'image-add');
    await shots.take(page, 'goods-edited');

    const shopper = await newPage();
    await shopper.goto('/?q=bowl');
    const cardOf = shopper.locator('.goods-card', { hasText: 'Blue-and-white bowl' });
    await ui.count(cardOf, 1);
    const img = cardOf.locator('img');
    await ui.attribute(img, 'loading', 'lazy');
    expect(await img.getAttribute('srcset')).toMatch(/^\/media\/[0-9a-f]{64}\.webp 320w, \/media\/[0-9a-f]{64}\.webp 1024w$/);
    await expect.poll(() => img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth), { timeout: 10_000 }).toBeGreaterThan(0);
    await shots.take(shopper, 'catalog-with-picture');
    await cardOf.getByRole('button', { name: 'Buy now' }).click();
    await shopper.waitForURL(/\/sandbox\/cashier\/[^/?#]+$/);
    await ui.text(shopper.locator('#sandbox-amount'), '¥66.60');
    const outTradeNo = (await shopper.locator('#sandbox-out-trade-no').textContent())?.trim() ?? '';
    await shopper.locator('#sandbox-pay').click();
    await shopper.waitForURL((url) => url.pathname === `/orders/${outTradeNo}`);
    await ui.text(shopper.locator('#order-status'), 'PAID', { timeout: 15_000 });
    await shots.take(shopper, 'paid');
    expect(problems).toEqual([]);
  });
});
