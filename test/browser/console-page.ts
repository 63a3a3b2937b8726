// Opening the console in a page and connecting it to a test broker, as a person would: shared by
// the browser tests of the dashboard, explorer, admin views and trace.
import type { Page } from 'playwright-core';

/** Loads the console from `httpUrl`, connects it as `clientId` and waits for the status line to say so. */
export async function openConnected(page: Page, httpUrl: string, clientId: string): Promise<void> {
  await page.goto(httpUrl);
  await page.getByLabel('Client ID').fill(clientId);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Connected to' }).waitFor();
}

/** The text of the dashboard figure labelled `label`. */
export function statText(page: Page, label: string): Promise<string> {
  return page.locator('.stat', { has: page.locator('dt', { hasText: label }) }).locator('dd').innerText();
}
