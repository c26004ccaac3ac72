// End-to-end: the real app (tsx src/main.ts, embedded PostgreSQL, built-in Alipay sandbox gateway)
// driven through Chromium. Skipped with a message when no Chromium is installed, unless
// REQUIRE_E2E=1 (CI), where a missing browser fails the run. See tests/e2e/support/.
import type { BrowserContext, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { screenshots, type Shots } from './support/browser.js';
import { ui } from './support/expect.js';
import { e2eGate, useShopAndBrowser } from './support/suite.js';

const gate = e2eGate();

interface OrderJson {
  outTradeNo: string;
  status: string;
  totalAmount: string;
  items: { name: string; unitPrice: string; quantity: number; amount: string }[];
  paidAt: string | null;
}

const JSON_HEADERS = { Accept: 'application/json' };
const PAID_TIMEOUT_MS = 15_000;

describe.skipIf(gate.skip)('the shop in a browser', () => {
  const env = useShopAndBrowser(gate, { logName: 'shop-app.log' });
  let context: BrowserContext | undefined;
  let current: { page: Page; shots: Shots } | undefined;
  /** Uncaught page errors and console errors (CSP violations land there too) of the current test. */
  let problems: string[] = [];

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && current) {
      await current.shots.take(current.page, 'failure').catch(() => {});
      console.error(`e2e: "${task.name}" failed on ${current.page.url()}; screenshots in ${current.shots.dir}, app log in ${env.shop.logFile}`);
    }
    current = undefined;
    await context?.close();
    context = undefined;
  });

  /** Records the page's errors in `problems`. */
  function watch(page: Page): Page {
    page.on('pageerror', (err) => problems.push(`pageerror on ${page.url()}: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      // The app has no /favicon.ico: Chromium's automatic request for it 404s (harmless).
      if (new URL(msg.location().url || page.url()).pathname === '/favicon.ico') return;
      problems.push(`console.error on ${page.url()}: ${msg.text()} (${msg.location().url})`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
    });
    if (process.env.E2E_TRACE) {
      page.on('request', (r) => console.log('>', r.method(), r.url(), r.postData() ?? ''));
      page.on('response', (r) => console.log('<', r.status(), r.url()));
    }
    return page;
  }

  /** A fresh browser context (no cookies) and its first page. */
  async function newPage(shots: Shots): Promise<Page> {
    problems = [];
    context = await env.browser.newContext({ baseURL: env.shop.url, locale: 'en-US', viewport: { width: 1100, height: 800 } });
    context.setDefaultTimeout(10_000);
    context.setDefaultNavigationTimeout(15_000);
    const page = watch(await context.newPage());
    current = { page, shots };
    return page;
  }

  async function orderJson(page: Page, outTradeNo: string): Promise<OrderJson> {
    const res = await page.request.get(`/orders/${encodeURIComponent(outTradeNo)}`, { headers: JSON_HEADERS });
    expect(res.status()).toBe(200);
    return (await res.json()) as OrderJson;
  }

  function card(page: Page, name: string) {
    return page.locator('.goods-card', { hasText: name });
  }

  /** Submits a goods card's form with one of its buttons ("Buy now" / "Add to cart"). */
  async function submitCard(page: Page, name: string, button: 'Buy now' | 'Add to cart', quantity = 1) {
    const goods = card(page, name);
    await ui.count(goods, 1);
    await goods.locator('input[name=quantity]').fill(String(quantity));
    await goods.getByRole('button', { name: button }).click();
  }

  async function expectCashier(page: Page, shots: Shots, amount: string): Promise<string> {
    await page.waitForURL(/\/sandbox\/cashier\/[^/?#]+$/);
    await ui.text(page.locator('#sandbox-amount'), amount);
    const outTradeNo = (await page.locator('#sandbox-out-trade-no').textContent())?.trim() ?? '';
    expect(outTradeNo).not.toBe('');
    await shots.take(page, 'cashier');
    return outTradeNo;
  }

  /** Pays on the cashier and follows the return to the order page; checks it turns PAID without a reload. */
  async function payAndWatch(page: Page, shots: Shots, outTradeNo: string) {
    let loads = 0;
    const countLoads = () => loads++;
    await page.locator('#sandbox-pay').click();
    await page.waitForURL((url) => url.pathname === `/orders/${outTradeNo}` && url.searchParams.get('returned') === '1');
    page.on('load', countLoads);
    await ui.attribute(page.locator('#order'), 'data-out-trade-no', outTradeNo);
    // The sandbox notifies the shop in the background: the page usually arrives before it does.
    const statusOnArrival = (await page.locator('#order-status').textContent())?.trim();
    expect(['UNPAID', 'PAID']).toContain(statusOnArrival);
    if (statusOnArrival === 'UNPAID') await ui.visible(page.locator('#confirming'));
    await shots.take(page, 'returned');
    await page.evaluate('window.__e2eSamePage = true');

    // No page.reload(): order-status.js polls the JSON and updates #order-status in place.
    await ui.text(page.locator('#order-status'), 'PAID', { timeout: PAID_TIMEOUT_MS });
    await ui.attribute(page.locator('#order-status'), 'class', 'status status-PAID');
    expect(await page.evaluate('window.__e2eSamePage === true')).toBe(true);
    expect(loads).toBe(0);
    page.off('load', countLoads);
    await ui.hidden(page.locator('#confirming'));
    await ui.count(page.locator('#pay-again'), 0);
    expect(Date.parse((await page.locator('#order-paid-at').textContent()) ?? '')).not.toBeNaN();
    await shots.take(page, 'paid');

    const order = await orderJson(page, outTradeNo);
    expect(order.status).toBe('PAID');
    expect(order.paidAt).not.toBeNull();
    return order;
  }

  it('buy and pay', async ({ task }) => {
    const shots = await screenshots(task.name);
    const page = await newPage(shots);

    await page.goto('/');
    await ui.text(page.locator('h1'), 'Catalog');
    await ui.count(page.locator('.goods-card'), 8);
    await shots.take(page, 'catalog');

    await page.locator('header input[name=q]').fill('tea');
    await page.locator('header form.search').getByRole('button', { name: 'Search' }).click();
    await page.waitForURL((url) => url.pathname === '/' && url.searchParams.get('q') === 'tea');
    const names = (await page.locator('.goods-card .name').allTextContents()).map((n) => n.trim());
    expect(names).toContain('龙井绿茶 Longjing Green Tea');
    expect(names.some((n) => /keyboard/i.test(n))).toBe(false);
    expect(names.every((n) => /tea/i.test(n))).toBe(true);
    await ui.value(page.locator('header input[name=q]'), 'tea');
    await shots.take(page, 'search-tea');

    await submitCard(page, 'Longjing', 'Buy now', 2);
    const outTradeNo = await expectCashier(page, shots, '¥256.00');
    await ui.containsText(page.locator('#sandbox-subject'), 'Longjing');

    const order = await payAndWatch(page, shots, outTradeNo);
    expect(order.totalAmount).toBe('256.00');
    expect(order.items).toEqual([expect.objectContaining({ name: '龙井绿茶 Longjing Green Tea', quantity: 2, amount: '256.00' })]);
    await ui.text(page.locator('#order-total'), '¥256.00');

    // The order is listed under "My orders" for this browser.
    await page.getByRole('link', { name: 'My orders' }).click();
    await ui.containsText(page.locator('main tbody tr', { hasText: outTradeNo }), 'PAID');
    await shots.take(page, 'my-orders');
    expect(problems).toEqual([]);
  });

  it('cancel on the cashier', async ({ task }) => {
    const shots = await screenshots(task.name);
    const page = await newPage(shots);

    await page.goto('/');
    await submitCard(page, 'Test item', 'Buy now');
    const outTradeNo = await expectCashier(page, shots, '¥0.01');

    await page.locator('#sandbox-cancel').click();
    await page.waitForURL(/\/sandbox\/cashier\/[^/]+\/cancel$/);
    await ui.attribute(page.locator('#sandbox-message'), 'data-outcome', 'cancelled');
    await ui.containsText(page.locator('#sandbox-message h1'), 'Payment cancelled');
    await ui.containsText(page.locator('#sandbox-message'), outTradeNo);
    await shots.take(page, 'cancelled');

    // The shop's list of this browser's orders (same cookies as the page).
    const res = await page.request.get('/orders', { headers: JSON_HEADERS });
    expect(res.status()).toBe(200);
    const { orders } = (await res.json()) as { orders: { outTradeNo: string; status: string; totalAmount: string }[] };
    expect(orders).toEqual([expect.objectContaining({ outTradeNo, status: 'UNPAID', totalAmount: '0.01' })]);
    expect((await orderJson(page, outTradeNo)).status).toBe('UNPAID');

    // "Back to the merchant" leads to the shop.
    await page.locator('#sandbox-back').click();
    await page.waitForURL((url) => url.origin === env.shop.url && url.pathname === '/');
    await ui.text(page.locator('h1'), 'Catalog');

    // Still unpaid a little later (nothing was sent to the shop).
    await page.waitForTimeout(500);
    expect((await orderJson(page, outTradeNo)).status).toBe('UNPAID');
    expect(problems).toEqual([]);
  });

  it('pay again from an unpaid order page', async ({ task }) => {
    const shots = await screenshots(task.name);
    const page = await newPage(shots);

    await page.goto('/');
    await submitCard(page, 'Test item', 'Buy now');
    const outTradeNo = await expectCashier(page, shots, '¥0.01');
    await page.locator('#sandbox-cancel').click();
    await ui.attribute(page.locator('#sandbox-message'), 'data-outcome', 'cancelled');

    await page.goto(`/orders/${outTradeNo}`);
    await ui.text(page.locator('#order-status'), 'UNPAID');
    await ui.hidden(page.locator('#confirming')); // not coming back from Alipay
    await ui.visible(page.locator('#pay-again'));
    await shots.take(page, 'unpaid-order');

    // Pay from a second tab while this one stays open: the sandbox notifies the shop at once, so the
    // page Alipay returns to is often PAID already; this tab, loaded while UNPAID, must flip by polling.
    let loads = 0;
    page.on('load', () => loads++);
    const payer = watch(await context!.newPage());
    await payer.goto(`/orders/${outTradeNo}`);
    await payer.getByRole('button', { name: 'Pay with Alipay' }).click();
    expect(await expectCashier(payer, shots, '¥0.01')).toBe(outTradeNo);
    const cashierUrl = payer.url();
    const order = await payAndWatch(payer, shots, outTradeNo);
    expect(order.totalAmount).toBe('0.01');

    await ui.text(page.locator('#order-status'), 'PAID', { timeout: PAID_TIMEOUT_MS });
    await ui.attribute(page.locator('#order'), 'data-status', 'PAID');
    await ui.count(page.locator('#pay-again'), 0);
    expect(Date.parse((await page.locator('#order-paid-at').textContent()) ?? '')).not.toBeNaN();
    expect(loads).toBe(0);
    await page.bringToFront();
    await shots.take(page, 'first-tab-paid');

    // The same cashier link cannot be paid twice.
    await payer.goto(cashierUrl);
    await ui.attribute(payer.locator('#sandbox-message'), 'data-outcome', 'already-paid');
    await shots.take(payer, 'cashier-already-paid');
    expect(problems).toEqual([]);
  });

  /** The cart, driven like a shopper, checking the page each cart form's redirect lands on. */
  async function cartFlow(page: Page, shots: Shots) {
    const cartLink = page.locator('header nav a[href="/cart"]');
    const row = (name: string) => page.locator('#cart tbody tr', { hasText: name });
    /** Clicks a button whose form POSTs and redirects (303) to /cart; waits for /cart to load. */
    const changeCart = async (button: ReturnType<Page['locator']>) => {
      await Promise.all([page.waitForEvent('load'), button.click()]);
      expect(new URL(page.url()).pathname).toBe('/cart');
    };
    const addToCart = async (name: string, quantity: number) => {
      await page.goto('/');
      const goods = card(page, name);
      await ui.count(goods, 1);
      await goods.locator('input[name=quantity]').fill(String(quantity));
      await changeCart(goods.getByRole('button', { name: 'Add to cart' }));
    };

    await page.goto('/');
    await ui.text(cartLink, 'Cart');

    await addToCart('Longjing', 1);
    await ui.count(row('Longjing'), 1);
    await ui.text(cartLink, 'Cart (1)');

    await addToCart('Ceramic Tea Cup', 1);
    await ui.count(page.locator('#cart tbody tr'), 2);
    await ui.text(page.locator('#cart-total'), '¥167.90'); // 128.00 + 39.90
    await ui.text(cartLink, 'Cart (2)');
    await shots.take(page, 'two-items');

    // Update the cup's quantity to 3.
    await row('Ceramic Tea Cup').locator('input[name=quantity]').fill('3');
    await changeCart(row('Ceramic Tea Cup').getByRole('button', { name: 'Update' }));
    await ui.value(row('Ceramic Tea Cup').locator('input[name=quantity]'), '3');
    await ui.text(row('Ceramic Tea Cup').locator('td.num').last(), '¥119.70');
    await ui.text(page.locator('#cart-total'), '¥247.70'); // 128.00 + 3 × 39.90
    await ui.text(cartLink, 'Cart (4)');

    // Remove the tea.
    await changeCart(row('Longjing').getByRole('button', { name: 'Remove' }));
    await ui.count(row('Longjing'), 0);
    await ui.count(page.locator('#cart tbody tr'), 1);
    await ui.text(page.locator('#cart-total'), '¥119.70');

    // Add two notebooks.
    await addToCart('Notebook A5', 2);
    await ui.count(page.locator('#cart tbody tr'), 2);
    await ui.value(row('Notebook A5').locator('input[name=quantity]'), '2');
    await ui.text(page.locator('#cart-total'), '¥144.30'); // 3 × 39.90 + 2 × 12.30
    await ui.text(cartLink, 'Cart (5)');
    await shots.take(page, 'before-checkout');
    const total = (await page.locator('#cart-total').textContent())?.trim() ?? '';

    await page.locator('#checkout').click();
    const outTradeNo = await expectCashier(page, shots, total);

    const order = await payAndWatch(page, shots, outTradeNo);
    expect(order.totalAmount).toBe('144.30');
    expect(order.items).toHaveLength(2);
    expect(order.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'Ceramic Tea Cup', quantity: 3, amount: '119.70' }),
        expect.objectContaining({ name: '笔记本 Notebook A5', quantity: 2, amount: '24.60' }),
      ]),
    );
    await ui.count(page.locator('#order tbody tr'), 2);
    await ui.text(page.locator('#order-total'), '¥144.30');

    // The checkout emptied the cart.
    await ui.text(cartLink, 'Cart');
    await page.goto('/cart');
    await ui.count(page.locator('#cart'), 0);
    await ui.containsText(page.locator('main .empty'), 'Your cart is empty');
    expect(problems).toEqual([]);
  }

  // Checks the page each cart form redirects to: the session must be stored before the redirect.
  it('cart: add, change, remove, check out, pay', async ({ task }) => {
    const shots = await screenshots(task.name);
    await cartFlow(await newPage(shots), shots);
  });
});
