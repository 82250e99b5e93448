/**
 * Debian's Chromium driven by playwright-core, headless, with a fresh profile per launch and
 * nothing that phones home (the test network is closed).
 */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
}

/** Opens the dashboard and signs in; resolves when the fleet table is on the page. */
export async function login(page: Page, url: string, user: string, password: string): Promise<void> {
  await page.goto(url);
  await page.locator('#username').fill(user);
  await page.locator('#password').fill(password);
  await page.locator('[data-testid=login]').click();
  await page.locator('#dashboard-view').waitFor({ state: 'visible' });
}
