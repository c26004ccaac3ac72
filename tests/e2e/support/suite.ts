import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, it } from 'vitest';
import { browserGate, launchBrowser, type BrowserGate } from './browser.js';
import { startShop, type Shop, type StartShopOptions } from './shop.js';

/** The browser gate of an e2e file; with REQUIRE_E2E=1 and no browser, a failing test says why. */
export function e2eGate(): BrowserGate {
  const gate = browserGate();
  if (gate.missingButRequired !== undefined) {
    it('a browser is available (REQUIRE_E2E=1)', () => {
      throw new Error(gate.missingButRequired);
    });
  }
  return gate;
}

/**
 * Call inside the suite: starts the app and the browser together before its tests and stops both
 * after them (whichever started is stopped even if the other failed).
 */
export function useShopAndBrowser(gate: BrowserGate, opts: StartShopOptions): { readonly shop: Shop; readonly browser: Browser } {
  let shop: Shop | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    const [started, launched] = await Promise.allSettled([startShop(opts), launchBrowser(gate.executablePath!)]);
    if (started.status === 'fulfilled') shop = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw launched.reason;
  });
  afterAll(async () => {
    await browser?.close();
    await shop?.stop();
  });
  return {
    get shop() {
      if (!shop) throw new Error('the shop runs only inside hooks and tests');
      return shop;
    },
    get browser() {
      if (!browser) throw new Error('the browser runs only inside hooks and tests');
      return browser;
    },
  };
}
