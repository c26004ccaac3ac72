import type { Locator } from 'playwright-core';
import { expect } from 'vitest';

// playwright-core has no web-first assertions (those live in @playwright/test): these poll the
// page with vitest's expect.poll until the expectation holds or the timeout passes. The probes
// never wait for elements themselves, so the timeout is the poll's alone.

export const UI_TIMEOUT_MS = 10_000;

interface Opts {
  timeout?: number;
}

const poll = <T>(probe: () => Promise<T>, opts: Opts = {}, message?: string) =>
  expect.poll(probe, { timeout: opts.timeout ?? UI_TIMEOUT_MS, interval: 100, message });

const texts = async (loc: Locator) => (await loc.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());

async function attribute(loc: Locator, name: string): Promise<string | null | undefined> {
  if ((await loc.count()) !== 1) return undefined;
  return loc.getAttribute(name, { timeout: 1_000 }).catch(() => undefined);
}

export const ui = {
  /** Exactly one element matches and its whitespace-normalised text equals `expected`. */
  text: (loc: Locator, expected: string, opts?: Opts) => poll(() => texts(loc), opts, `text of ${loc}`).toEqual([expected]),
  /** Exactly one element matches and its text contains `expected`. */
  containsText: (loc: Locator, expected: string, opts?: Opts) =>
    poll(async () => (await texts(loc)).filter((t) => t.includes(expected)).length, opts, `${loc} containing "${expected}"`).toBe(1),
  count: (loc: Locator, n: number, opts?: Opts) => poll(() => loc.count(), opts, `count of ${loc}`).toBe(n),
  visible: (loc: Locator, opts?: Opts) => poll(() => loc.isVisible(), opts, `${loc} visible`).toBe(true),
  /** Hidden or absent. */
  hidden: (loc: Locator, opts?: Opts) => poll(() => loc.isHidden(), opts, `${loc} hidden`).toBe(true),
  attribute: (loc: Locator, name: string, expected: string, opts?: Opts) =>
    poll(() => attribute(loc, name), opts, `${loc} [${name}]`).toBe(expected),
  value: (loc: Locator, expected: string, opts?: Opts) =>
    poll(async () => ((await loc.count()) === 1 ? loc.inputValue({ timeout: 1_000 }).catch(() => undefined) : undefined), opts, `value of ${loc}`).toBe(expected),
};
