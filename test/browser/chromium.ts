// Headless Chromium for the console's browser tests: where it lives, what must exist before a
// test can mean anything, and a page that records script errors and CSP violations.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { repoRoot } from '../helpers/paths.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Fails, never skips, when the browser or the built console is missing: the message says what to do. */
export function preconditions(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is required for the console browser tests and was not found at ${CHROMIUM} (Debian: apt-get install chromium)`);
  }
  if (!existsSync(join(repoRoot, 'web', 'dist', 'index.html'))) {
    throw new Error('the console is not built (web/dist/index.html is missing): run `npm run build:web`');
  }
}

/** Launches Chromium quietly (no sandbox in containers, no background traffic); `args` are added. */
export function launchChromium(args: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...args],
  });
}

/** A page in a new context whose script errors and console errors are pushed to `errors`. */
export async function watchedPage(browser: Browser, errors: string[], options: BrowserContextOptions = {}): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options })).newPage();
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return page;
}
