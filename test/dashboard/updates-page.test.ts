/**
 * The page's "Model updates" panel in Debian's Chromium against a real server and PostgreSQL:
 * an admin sees the packages, a rollout's devices with their states and download progress,
 * follows a report live, halts the rollout and starts another from the form; a viewer sees the
 * same without any of the admin's buttons. The fleet table names the model each device runs.
 * With DOCS_SCREENSHOTS=1 it also writes docs/images/dashboard-updates.png.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { Browser, Page } from 'playwright-core';
import { writeBatch } from '../../src/dashboard/ingest/ingest-writer.js';
import { CommandQueue } from '../../src/dashboard/updates/command-queue.js';
import type { ModelCommand } from '../../src/dashboard/updates/model-commands.js';
import { simulatedHealth } from '../../src/tools/fixtures/payloads.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { launchBrowser, login } from '../helpers/browser.js';
import { addUser, insertResults, resultPayload, startDashboardWeb, upsertDevice, type RunningDashboard } from '../helpers/dashboard-fixtures.js';
import { writeSigningKeys, writeTestPackage, type TestPackage } from '../helpers/signed-packages.js';

const IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));
const PASSWORD = 'correct horse battery';
let postgres: TemporaryPostgres;
let dashboard: RunningDashboard;
let browser: Browser;
let root: string;
let made: TestPackage;
let rolloutId: string;
const commands = new Map<string, ModelCommand>();

function minutesAgo(minutes: number): Date {
  return new Date(Date.now() - minutes * 60_000);
}

/** Stores a device's cspine.update.v1 report as ingest does. */
async function report(deviceId: string, state: string, extra: Record<string, unknown> = {}): Promise<void> {
  const command = commands.get(deviceId)!;
  const body = { schema: 'cspine.update.v1', id: crypto.randomUUID(), deviceId, at: new Date().toISOString(), commandId: command.id, rolloutId: command.rolloutId, state, ...extra };
  await writeBatch(dashboard.database.pool, [{ topic: `cspine/v1/${deviceId}/update`, kind: 'update', deviceId, body, retained: false, receivedAt: new Date() }], []);
}

test.before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-updates-page-'));
  const key = writeSigningKeys(root, 'fleet');
  postgres = await TemporaryPostgres.create();
  [dashboard, browser] = await Promise.all([
    startDashboardWeb(postgres.url(), {}, undefined, { updates: { dir: path.join(root, 'store'), trustedKeys: [key.publicFile], groups: { north: ['ambulance-4', 'ambulance-5'] } } }),
    launchBrowser(),
  ]);
  await addUser(dashboard.database, 'ada', 'admin', PASSWORD);
  await addUser(dashboard.database, 'vera', 'viewer', PASSWORD);
  const db = dashboard.database.pool;
  for (const device of ['ambulance-1', 'ambulance-2', 'ambulance-3', 'ambulance-4', 'ambulance-5']) {
    await upsertDevice(db, device, { health: simulatedHealth(device, { at: minutesAgo(10) }) });
  }
  made = writeTestPackage(root, key, { id: 'cspine-alexnet-v2', variantBytes: 3 * 1024 * 1024 });
  await dashboard.updates.packages.add(made.dir, 'ada');
  const manifest = JSON.parse(fs.readFileSync(path.join(made.dir, 'manifest.json'), 'utf8')) as { sha256: string };
  // ambulance-2 already classifies with the new model: its latest result says so, its heartbeat not yet.
  await insertResults(db, [{ ...resultPayload({ deviceId: 'ambulance-2', processedAt: minutesAgo(1) }), model: { id: 'cspine-alexnet-v2', sha256: manifest.sha256 } }]);

  const { rollouts } = dashboard.updates;
  rolloutId = (await rollouts.create({ package: made.manifestSha256, target: { devices: ['ambulance-1', 'ambulance-2', 'ambulance-3'] }, canary: ['ambulance-1', 'ambulance-2'], createdBy: 'ada' })).id;
  const queue = new CommandQueue(dashboard.database, 'page-test');
  for (const claimed of await queue.claim(10)) {
    commands.set(claimed.deviceId, claimed.command);
    await queue.markSent(claimed);
  }
  await report('ambulance-1', 'downloading', { bytesDone: 1.5 * 1024 * 1024, bytesTotal: 3 * 1024 * 1024 });
  await report('ambulance-2', 'active');
});

test.after.always(async () => {
  await browser?.close();
  await dashboard?.stop();
  await postgres?.destroy();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

const screenshots = process.env.DOCS_SCREENSHOTS === '1';

async function openPage(user: string, viewport = { width: 1280, height: 1000 }): Promise<{ page: Page; problems: string[]; close(): Promise<void> }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => message.type() === 'error' && !message.text().includes('401') && problems.push(message.text()));
  page.on('dialog', (dialog) => void dialog.accept());
  await login(page, dashboard.url, user, PASSWORD);
  await page.locator('[data-testid=rollout-detail]').waitFor();
  return { page, problems, close: () => context.close() };
}

const deviceRow = (page: Page, device: string) => page.locator(`[data-testid=rollout-device-row][data-device=${device}]`);

test.serial("an admin sees the package, the rollout's devices with their progress, follows a report live and halts the rollout", async (t) => {
  const { page, problems, close } = await openPage('ada');
  t.teardown(close);

  const packageRow = page.locator('[data-testid=package-row]');
  t.is(await packageRow.count(), 1);
  t.regex(await packageRow.innerText(), new RegExp(`cspine-alexnet-v2[\\s\\S]*${made.manifestSha256.slice(0, 8)}[\\s\\S]*3\\.0 MiB`));
  // The fleet names the model each device runs, from the newer of its heartbeat and its latest result.
  t.regex(await page.locator('[data-testid=device-row][data-device=ambulance-2]').innerText(), /cspine-alexnet-v2/);
  t.regex(await page.locator('[data-testid=device-row][data-device=ambulance-3]').innerText(), /cspine-alexnet-demo/);

  t.is(await page.locator(`[data-testid=rollout-row][data-id="${rolloutId}"]`).getAttribute('data-state'), 'canary');
  await deviceRow(page, 'ambulance-1').waitFor();
  t.is(await deviceRow(page, 'ambulance-1').getAttribute('data-state'), 'downloading');
  t.is(await deviceRow(page, 'ambulance-2').getAttribute('data-state'), 'active');
  t.is(await deviceRow(page, 'ambulance-3').getAttribute('data-state'), 'pending');
  t.regex(await deviceRow(page, 'ambulance-3').innerText(), /main/);
  const progress = deviceRow(page, 'ambulance-1').locator('[data-testid=rollout-progress]');
  t.is(await progress.getAttribute('aria-valuenow'), '50');
  t.regex(await deviceRow(page, 'ambulance-1').innerText(), /1\.5 MiB of 3\.0 MiB/);
  for (const button of ['rollout-advance', 'rollout-halt', 'rollout-rollback']) t.is(await page.locator(`[data-testid=${button}]`).count(), 1, button);
  t.false(await page.locator('[data-testid=rollout-form]').isHidden());
  if (screenshots) {
    await page.locator('#updates-card').scrollIntoViewIfNeeded();
    await page.locator('#updates-card').screenshot({ path: path.join(IMAGES, 'dashboard-updates.png') });
  }

  // A report stored by ingest reaches the open page without a reload.
  await report('ambulance-1', 'testing');
  await page.locator('[data-testid=rollout-device-row][data-device=ambulance-1][data-state=testing]').waitFor();
  t.is(await progress.count(), 0, 'no progress bar once downloaded');

  await page.locator('[data-testid=rollout-halt]').click();
  await page.locator('[data-testid=rollout-state]', { hasText: 'halted' }).waitFor();
  t.is(await page.locator('[data-testid=rollout-reason]').innerText(), 'halted by ada');
  t.is(await page.locator('[data-testid=rollout-halt]').count(), 0);
  t.is(await page.locator('[data-testid=rollout-advance]').count(), 0);
  t.is(await page.locator('[data-testid=rollout-rollback]').count(), 1, 'a halted rollout can still be rolled back');
  t.deepEqual(problems, []);
});

test.serial('an admin starts a rollout from the form; a refusal is shown', async (t) => {
  const { page, problems, close } = await openPage('ada');
  t.teardown(close);
  await page.locator('#rollout-target').selectOption('devices');
  await page.locator('#rollout-devices').fill('ambulance-4, ambulance-9');
  await page.locator('[data-testid=rollout-create]').click();
  await page.locator('#rollout-error').waitFor();
  t.regex(await page.locator('#rollout-error').innerText(), /unknown device ambulance-9/);

  await page.locator('#rollout-target').selectOption('group:north');
  t.true(await page.locator('#rollout-devices-label').isHidden());
  await page.locator('#rollout-canary').fill('ambulance-5');
  await page.locator('[data-testid=rollout-create]').click();
  await page.locator('[data-testid=rollout-row]').nth(1).waitFor();
  const created = page.locator('[data-testid=rollout-row]').first();
  t.is(await created.getAttribute('data-state'), 'canary');
  t.regex(await created.innerText(), /group north \(2 devices\)/);
  await page.locator(`[data-testid=rollout-detail][data-id="${await created.getAttribute('data-id')}"]`).waitFor();
  await deviceRow(page, 'ambulance-5').waitFor();
  t.regex(await deviceRow(page, 'ambulance-5').innerText(), /canary/);
  t.regex(await deviceRow(page, 'ambulance-4').innerText(), /main/);
  t.deepEqual(problems.filter((problem) => !problem.includes('400')), []);
});

test.serial('a viewer sees the rollouts and their devices but no admin button and no form', async (t) => {
  const { page, problems, close } = await openPage('vera', { width: 768, height: 1024 });
  t.teardown(close);
  await page.locator(`[data-testid=rollout-row][data-id="${rolloutId}"]`).click();
  await page.locator(`[data-testid=rollout-detail][data-id="${rolloutId}"]`).waitFor();
  await deviceRow(page, 'ambulance-2').waitFor();
  t.is(await deviceRow(page, 'ambulance-2').getAttribute('data-state'), 'active');
  for (const button of ['rollout-advance', 'rollout-halt', 'rollout-rollback']) t.is(await page.locator(`[data-testid=${button}]`).count(), 0, button);
  t.true(await page.locator('[data-testid=rollout-form]').isHidden());
  t.false(await page.evaluate<boolean>('document.documentElement.scrollWidth > window.innerWidth'), 'no sideways scrolling of the page');
  t.deepEqual(problems, []);
});
