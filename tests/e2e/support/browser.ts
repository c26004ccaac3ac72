import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Repository root (tests/e2e/support → ../../..). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Screenshots and app logs go here (test-results/ is gitignored). */
export const E2E_OUTPUT_DIR = path.join(REPO_ROOT, 'test-results', 'e2e');

export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/** The Chromium to drive: CHROMIUM_PATH when set, else /usr/bin/chromium; undefined when that file is missing. */
export function findBrowser(): string | undefined {
  const candidate = process.env.CHROMIUM_PATH?.trim() || DEFAULT_CHROMIUM_PATH;
  return existsSync(candidate) ? candidate : undefined;
}

/** CI sets REQUIRE_E2E=1: there a missing browser is a failure, not a skip. */
export function e2eRequired(): boolean {
  return ['1', 'true', 'yes'].includes((process.env.REQUIRE_E2E ?? '').trim().toLowerCase());
}

export interface BrowserGate {
  /** Path of the Chromium to launch, when found. */
  executablePath: string | undefined;
  /** True when the browser tests must be skipped (no browser, not required). */
  skip: boolean;
  /** Set when no browser was found and REQUIRE_E2E=1: the run must fail with this message. */
  missingButRequired: string | undefined;
}

/**
 * Decides whether a browser test file runs. Call it once at the top level of the file: it prints
 * why the tests are skipped, and tells the file to fail when a browser is required but missing.
 */
export function browserGate(): BrowserGate {
  const executablePath = findBrowser();
  if (executablePath) return { executablePath, skip: false, missingButRequired: undefined };
  const where = process.env.CHROMIUM_PATH?.trim() || DEFAULT_CHROMIUM_PATH;
  if (e2eRequired()) {
    const message = `e2e: Chromium not found at ${where} but REQUIRE_E2E=1 — browser tests cannot run (apt-get install chromium, or set CHROMIUM_PATH)`;
    console.error(message);
    return { executablePath, skip: true, missingButRequired: message };
  }
  console.warn(`e2e: Chromium not found at ${where} — browser tests SKIPPED (apt-get install chromium, or set CHROMIUM_PATH; REQUIRE_E2E=1 makes this an error)`);
  return { executablePath, skip: true, missingButRequired: undefined };
}

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Containers often have a small /dev/shm.
  '--disable-dev-shm-usage',
];

export function launchBrowser(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 30_000 });
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'test'
  );
}

export interface Shots {
  dir: string;
  /** Saves test-results/e2e/<test>/<nn>-<step>.png (full page). */
  take(page: Page, step: string): Promise<string>;
}

/** A fresh screenshot folder for one test (old shots of that test are removed). */
export async function screenshots(testName: string): Promise<Shots> {
  const dir = path.join(E2E_OUTPUT_DIR, slug(testName));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  let n = 0;
  return {
    dir,
    async take(page, step) {
      n++;
      const file = path.join(dir, `${String(n).padStart(2, '0')}-${slug(step)}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
  };
}
