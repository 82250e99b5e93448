/**
 * The whole product with real parts, each in its own process: a device (`cspine-edge run`),
 * Mosquitto, the dashboard (`cspine-edge dashboard`) and PostgreSQL, and the page in Debian's
 * Chromium. With DOCS_SCREENSHOTS=1 the first test also writes docs/images/dashboard-live.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import mqtt from 'mqtt';
import { simulatedResult } from '../../src/tools/fixtures/payloads.js';
import { grayImage } from '../../src/tools/fixtures/images.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { launchBrowser, login } from '../helpers/browser.js';
import { startBroker } from '../helpers/brokers.js';
import { runCli } from '../helpers/cli.js';
import { dashboardEnv, healthy, startProcess, until } from '../helpers/processes.js';
import { configEnv, workspace } from '../helpers/fixtures.js';

const IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));
const PASSWORD = 'correct horse battery';

let postgres: TemporaryPostgres;
test.before(async () => {
  postgres = await TemporaryPostgres.create('postgres_seed');
});
test.after.always(async () => {
  await postgres?.destroy();
});

test.serial('an image dropped on the device is on the page within 2 s, and a clinician acknowledges it there', async (t) => {
  await postgres.query('postgres', 'CREATE DATABASE live');
  const broker = await startBroker(t, 'mosquitto');
  const env = await dashboardEnv(postgres, broker, 'live');
  const added = await runCli(['dashboard', 'user', 'add', 'dr.lee', '--role', 'clinician', '--password-stdin'], env, undefined, `${PASSWORD}\n`);
  t.is(added.code, 0, added.stderr);
  const dashboard = startProcess(t, ['dashboard'], env);
  await until(() => healthy(env.url), `the dashboard (${dashboard.output()})`);

  const { config } = workspace(t);
  fs.mkdirSync(config.capture.dir, { recursive: true });
  const device = startProcess(t, ['run'], {
    ...configEnv(config),
    CSPINE_DEVICE_ID: 'ambulance-7',
    CSPINE_SYNC__MQTT__ENABLED: 'true',
    CSPINE_SYNC__MQTT__URL: broker.url,
    CSPINE_SYNC__MQTT__RECONNECT_MIN_MS: '100',
  });

  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await login(page, env.url, 'dr.lee', PASSWORD);
  // The device's retained "online" status puts it in the fleet table.
  await page.locator('[data-testid=device-row][data-device=ambulance-7]').waitFor({ timeout: 30_000 }).catch((error: Error) => {
    throw new Error(`${error.message}\ndevice said: ${device.output().slice(-2000)}`);
  });

  // Brightness 115 is "fracture" for the test model: RED.
  const image = await grayImage(115);
  const dropped = Date.now();
  fs.writeFileSync(path.join(config.capture.dir, 'b115.png'), image);
  const row = page.locator('[data-testid=result-row][data-level=RED]').first();
  await row.waitFor({ timeout: 10_000 });
  const visibleMs = Date.now() - dropped;
  t.log(`dropped → on the page: ${visibleMs} ms (stability window 100 ms)`);
  t.true(visibleMs <= 2000, `on the page after ${visibleMs} ms`);
  await page.locator('[data-testid=red-banner]').waitFor();

  await row.click();
  await page.locator('[data-testid=probability-chart]').waitFor();
  if (process.env.DOCS_SCREENSHOTS === '1') await page.screenshot({ path: path.join(IMAGES, 'dashboard-live.png') });
  await page.locator('[data-testid=ack]').click();
  await page.locator('[data-testid=ack-done]').waitFor();
  t.is(await page.locator('[data-testid=ack-by]').innerText(), 'dr.lee');
  const [acknowledged] = (await postgres.query('live', `SELECT acknowledged_by FROM results WHERE level = 'RED'`)).trim().split('\n');
  t.is(acknowledged, 'dr.lee');
});

test.serial('the dashboard killed (SIGKILL) while it ingests: after a restart every message is stored, once', async (t) => {
  await postgres.query('postgres', 'CREATE DATABASE killed');
  const broker = await startBroker(t, 'mosquitto');
  const env = await dashboardEnv(postgres, broker, 'killed');
  const first = startProcess(t, ['dashboard'], env);
  await until(() => healthy(env.url), 'the dashboard');
  const stored = async () => Number((await postgres.query('killed', 'SELECT count(*) FROM results')).trim());

  const sender = await mqtt.connectAsync(broker.url, { clientId: 'fleet', protocolVersion: 5 });
  t.teardown(() => sender.endAsync(true));
  const total = 3000;
  const sending = (async () => {
    for (let i = 0; i < total; i++) {
      const result = simulatedResult(`amb-${i % 7}`, i % 9 === 0 ? 'RED' : 'GREEN', { image: i });
      await sender.publishAsync(`cspine/v1/${result.deviceId}/result`, JSON.stringify(result), { qos: 1 });
    }
  })();
  await until(async () => (await stored()) >= 200, 'some results stored');
  first.child.kill('SIGKILL');
  await new Promise((resolve) => first.child.once('exit', resolve));
  const atKill = await stored();
  await sending;
  t.true(atKill < total, `killed with ${atKill} of ${total} stored`);

  startProcess(t, ['dashboard'], env);
  await until(async () => (await stored()) >= total, `all ${total} stored`, 60_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(await stored(), total);
  t.is(Number((await postgres.query('killed', 'SELECT count(DISTINCT id) FROM results')).trim()), total);
});
