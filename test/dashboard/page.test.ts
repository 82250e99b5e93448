/**
 * The dashboard page in Debian's Chromium against a real server and PostgreSQL: sign in, the
 * fleet, RED first with its banner, a result's detail, acknowledging, and a result arriving
 * live. With DOCS_SCREENSHOTS=1 it also writes the screenshots in docs/images/.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { Browser } from 'playwright-core';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { simulatedHealth } from '../../src/tools/fixtures/payloads.js';
import { launchBrowser, login } from '../helpers/browser.js';
import { addUser, insertResults, resultPayload, startDashboardWeb, upsertDevice, type RunningDashboard } from '../helpers/dashboard-fixtures.js';

const IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));
const PASSWORD = 'correct horse battery';
let postgres: TemporaryPostgres;
let dashboard: RunningDashboard;
let browser: Browser;

function minutesAgo(minutes: number): Date {
  return new Date(Date.now() - minutes * 60_000);
}

test.before(async () => {
  postgres = await TemporaryPostgres.create();
  [dashboard, browser] = await Promise.all([startDashboardWeb(postgres.url()), launchBrowser()]);
  await addUser(dashboard.database, 'dr.lee', 'clinician', PASSWORD);
  await addUser(dashboard.database, 'vera', 'viewer', PASSWORD);
  const db = dashboard.database.pool;
  await upsertDevice(db, 'ambulance-7', { since: minutesAgo(200), health: simulatedHealth('ambulance-7', { at: minutesAgo(0.5), lamp: 'RED', pending: 0 }) });
  await upsertDevice(db, 'ambulance-12', { since: minutesAgo(95), health: simulatedHealth('ambulance-12', { at: minutesAgo(0.8), lamp: 'GREEN', pending: 14, diskFreeBytes: 8_912_345_678 }) });
  await upsertDevice(db, 'ambulance-3', {
    since: minutesAgo(12),
    condition: { state: 'fault', code: 'E_SELF_TEST_FAILED', since: minutesAgo(12).toISOString() },
    health: { ...simulatedHealth('ambulance-3', { at: minutesAgo(1), lamp: 'FAULT' }), model: null },
  });
  await upsertDevice(db, 'helicopter-1', { state: 'offline', since: minutesAgo(300), health: simulatedHealth('helicopter-1', { at: minutesAgo(301), lamp: 'IDLE', diskFreeBytes: 52_000_000_000 }) });
  await insertResults(db, [
    resultPayload({ deviceId: 'ambulance-12', level: 'GREEN', processedAt: minutesAgo(41) }),
    resultPayload({ deviceId: 'ambulance-7', level: 'AMBER', processedAt: minutesAgo(33), dicom: true }),
    resultPayload({ deviceId: 'ambulance-12', rejected: true, processedAt: minutesAgo(27) }),
    resultPayload({ deviceId: 'ambulance-7', level: 'RED', processedAt: minutesAgo(19), dicom: true, verdicts: true, source: 'DOE_JANE_1961.dcm' }),
    resultPayload({ deviceId: 'ambulance-12', level: 'GREEN', processedAt: minutesAgo(8) }),
    resultPayload({ deviceId: 'ambulance-7', level: 'GREEN', processedAt: minutesAgo(4) }),
    resultPayload({ deviceId: 'ambulance-12', level: 'RED', processedAt: minutesAgo(52) }),
  ]);
});

test.after.always(async () => {
  await browser?.close();
  await dashboard?.stop();
  await postgres?.destroy();
});

const screenshots = process.env.DOCS_SCREENSHOTS === '1';

test.serial('a clinician signs in, sees RED first, opens its detail, acknowledges it, and sees a new result arrive live', async (t) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  t.teardown(() => context.close());
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  // The first visit asks GET /api/session and is answered 401: that is how the page learns to show the login form.
  page.on('console', (message) => message.type() === 'error' && !message.text().includes('401') && problems.push(message.text()));
  await login(page, dashboard.url, 'dr.lee', PASSWORD);

  await t.notThrowsAsync(page.locator('[data-testid=device-row]').first().waitFor());
  t.is(await page.locator('[data-testid=device-row]').count(), 4);
  t.regex((await page.locator('[data-testid=device-row][data-device=ambulance-3]').innerText()) ?? '', /fault[\s\S]*E_SELF_TEST_FAILED/);
  t.regex(await page.locator('[data-testid=device-row][data-device=ambulance-12]').innerText(), /14[\s\S]*8\.3 GiB/);

  const banner = page.locator('[data-testid=red-banner]');
  await banner.waitFor();
  t.is(await banner.getAttribute('data-count'), '2');
  t.regex(await banner.innerText(), /2 RED results not yet acknowledged/);
  const rows = page.locator('[data-testid=result-row]');
  // The banner's RED results are pinned as soon as they arrive, which may be before the page of results:
  // wait for the list to be drawn rather than count it mid-draw.
  await page.waitForFunction("document.querySelectorAll('[data-testid=result-row]').length >= 7").catch(() => undefined);
  t.is(await rows.count(), 7);
  const topLevels = () => rows.evaluateAll((elements) => elements.slice(0, 3).map((element) => element.getAttribute('data-level')));
  await page.waitForFunction("[...document.querySelectorAll('[data-testid=result-row]')].slice(0, 3).map((row) => row.dataset.level).join() === 'RED,RED,GREEN'").catch(() => undefined);
  t.deepEqual(await topLevels(), ['RED', 'RED', 'GREEN'], 'unacknowledged RED on top');
  t.false((await page.content()).includes('DOE_JANE'));

  if (screenshots) {
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(IMAGES, 'dashboard.png') });
  }

  await rows.first().click();
  const detail = page.locator('#detail');
  await detail.waitFor();
  await page.locator('[data-testid=probability-chart]').waitFor();
  t.is(await page.locator('[data-testid=probability-bar]').count(), 3);
  const text = await detail.innerText();
  t.regex(text, /fracture suspected \(P=87\.0%\)/);
  t.regex(text, /87\.0 %/);
  t.regex(text, /DX/);
  t.regex(text, /CSPINE/);
  t.regex(text, /in distribution/);
  t.regex(text, /rotated 180°/);
  t.regex(text, /cspine-alexnet-demo/);
  t.regex(text, /infer\s+13\.9 ms/);
  t.is(await page.locator('[data-testid=detail-thresholds]').innerText(), 'GREEN ≥ 0.9, RED ≥ 0.6; not validated on site films');
  if (screenshots) await page.screenshot({ path: path.join(IMAGES, 'dashboard-detail.png') });

  await page.locator('[data-testid=ack]').click();
  await page.locator('[data-testid=ack-done]').waitFor();
  t.is(await page.locator('[data-testid=ack-by]').innerText(), 'dr.lee');
  t.truthy(await page.locator('[data-testid=ack-at]').innerText());
  await page.locator('#detail-close').click();
  t.is(await banner.getAttribute('data-count'), '1');

  const live = resultPayload({ deviceId: 'ambulance-3', level: 'RED', processedAt: new Date() });
  await insertResults(dashboard.database.pool, [live]);
  const liveRow = page.locator(`[data-testid=result-row][data-id="${live.id}"]`);
  await liveRow.waitFor({ timeout: 5000 });
  t.is(await liveRow.getAttribute('data-level'), 'RED');
  await page.waitForFunction("document.querySelector('[data-testid=red-banner]').dataset.count === '2'");
  t.is(await rows.first().getAttribute('data-id'), live.id, 'the newest RED comes first');
  t.deepEqual(problems, []);
});

test.serial('a viewer sees no Acknowledge button; the page is usable at tablet width', async (t) => {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 }, hasTouch: true, isMobile: true, deviceScaleFactor: 1 });
  t.teardown(() => context.close());
  const page = await context.newPage();
  await login(page, dashboard.url, 'vera', PASSWORD);
  await page.locator('[data-testid=result-row]').first().waitFor();
  t.false(await page.evaluate<boolean>('document.documentElement.scrollWidth > window.innerWidth'), 'no sideways scrolling of the page');
  const banner = await page.locator('[data-testid=red-banner]').boundingBox();
  t.true((banner?.height ?? 0) >= 44, 'the banner is a large touch target');
  if (screenshots) await page.screenshot({ path: path.join(IMAGES, 'dashboard-tablet.png') });
  await page.locator('[data-testid=result-row][data-level=RED]').first().click();
  await page.locator('[data-testid=probability-chart]').waitFor();
  t.is(await page.locator('[data-testid=ack]').count(), 0);
  t.regex(await page.locator('#detail').innerText(), /A clinician acknowledges it/);
});

test.serial('signing out returns to the login form, and a wrong password is shown', async (t) => {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  await login(page, dashboard.url, 'vera', PASSWORD);
  await page.locator('[data-testid=logout]').click();
  await page.locator('#login-view').waitFor();
  await page.reload();
  await page.locator('#login-view').waitFor();
  await page.locator('#username').fill('vera');
  await page.locator('#password').fill('not the password');
  await page.locator('[data-testid=login]').click();
  await page.locator('#login-error').waitFor();
  t.is(await page.locator('#login-error').innerText(), 'wrong user name or password');
});
