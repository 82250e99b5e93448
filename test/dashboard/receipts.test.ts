import crypto from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { configSchema } from '../../src/config/schema.js';
import { DashboardDatabase } from '../../src/dashboard/database/database.js';
import { Ingest } from '../../src/dashboard/ingest/ingest.js';
import { healthPayload } from '../../src/sync/payloads.js';
import { recordResults } from '../../src/tools/fixtures/results.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { startBroker, type TestBroker } from '../helpers/brokers.js';
import { inProcessDevice, queuedIds } from '../helpers/device.js';
import { capturedLogger } from '../helpers/fixtures.js';

// A real device outbox and publisher, a real dashboard ingest, Mosquitto and PostgreSQL: the
// broker acknowledges what it then loses, and only the dashboard's receipt can tell.
let cluster: TemporaryPostgres;
let databases = 0;

test.before(async () => {
  cluster = await TemporaryPostgres.create('postgres_seed');
});
test.after.always(async () => {
  await cluster?.destroy();
});

const RESEND_AFTER_MS = 600;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Ingest with lanes that come back slowly after a broker restart (devices come back first). */
async function dashboard(t: ExecutionContext, broker: TestBroker, database?: string) {
  const name = database ?? `receipts_${++databases}`;
  if (!database) await cluster.query('postgres', `CREATE DATABASE ${name}`);
  const settings = configSchema.parse({ dashboard: { instanceId: 'test', mqtt: { url: broker.url, reconnectMs: 1_500, lanes: 2 }, postgres: { url: cluster.url(name) } } }).dashboard;
  const log = capturedLogger();
  const store = new DashboardDatabase(settings.postgres, log.logger);
  const ingest = new Ingest(settings, store, log.logger);
  await store.start();
  await ingest.start();
  let running = true;
  const stop = async () => {
    if (!running) return;
    running = false;
    await ingest.stop();
    await store.stop();
  };
  t.teardown(stop);
  await waitFor(() => ingest.connections.connected === 2, 10_000, 'the lanes subscribed');
  return { name, ingest, stop };
}

function device(t: ExecutionContext, broker: TestBroker) {
  return inProcessDevice(t, broker, {}, { sync: { receipts: { resendAfterMs: RESEND_AFTER_MS } } });
}

async function storedIds(database: string, table: 'results' | 'health'): Promise<string[]> {
  const client = new pg.Client({ connectionString: cluster.url(database) });
  await client.connect();
  try {
    return (await client.query<{ id: string }>(`SELECT id FROM ${table} ORDER BY id`)).rows.map((row) => row.id);
  } finally {
    await client.end();
  }
}

/** Restarts the broker and has the device send `count` results before the dashboard's lanes subscribe again. */
async function loseInTheGap(device: ReturnType<typeof inProcessDevice>, broker: TestBroker, ingest: Ingest, first: number, count: number): Promise<void> {
  await broker.stop();
  await waitFor(() => ingest.connections.connected === 0 && !device.publisher.isConnected, 10_000, 'both to notice');
  await broker.start();
  await waitFor(() => device.publisher.isConnected, 10_000, 'the device back');
  recordResults(device.history, count, first);
  device.publisher.poke();
  await waitFor(() => device.outbox.backlog().pending === 0, 10_000, 'the broker to acknowledge them');
  // Mosquitto 2.0 kept the lanes' sessions but not their shared subscriptions: nobody got these.
  if (ingest.connections.connected !== 0) throw new Error('a lane subscribed again before the broker acknowledged: this run proves nothing; slow the lanes further');
}

test.serial('results the broker acknowledged but lost in a restart are sent again once the dashboard confirms later ones; each stored once', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const { name, ingest } = await dashboard(t, broker);
  const sender = device(t, broker);
  recordResults(sender.history, 10);
  sender.publisher.start();
  await waitFor(async () => (await storedIds(name, 'results')).length === 10 && sender.outbox.awaitingReceipt() === 0, 10_000, 'the first 10 confirmed');

  await loseInTheGap(sender, broker, ingest, 10, 5);
  await waitFor(() => ingest.connections.connected === 2, 10_000, 'the lanes subscribed again');
  t.is((await storedIds(name, 'results')).length, 10, 'the 5 sent in the gap never reached the dashboard');
  t.is(sender.outbox.awaitingReceipt(), 5);

  recordResults(sender.history, 5, 15);
  sender.publisher.poke();
  await waitFor(async () => (await storedIds(name, 'results')).length === 20, 15_000, 'the lost 5 sent again, with the 5 after them').catch(async (error: Error) => {
    throw new Error(`${error.message}: ${(await storedIds(name, 'results')).length} stored, ${sender.outbox.awaitingReceipt()} awaiting a receipt`);
  });
  await waitFor(() => sender.outbox.awaitingReceipt() === 0, 5_000, 'every receipt');
  t.deepEqual(await storedIds(name, 'results'), queuedIds(sender.history, 20).sort());
  t.is(ingest.counters.duplicates, 0, 'only the lost ones were sent again');
  t.true(sender.log.lines.some((line) => /never confirmed/.test(String(line.msg)) && line.count === 5), 'the device says it resends, and how many');
});

test.serial('a heartbeat confirmed after the gap is enough: the last results before a quiet spell do not wait for the next one', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const { name, ingest } = await dashboard(t, broker);
  const sender = device(t, broker);
  sender.publisher.start();
  await waitFor(() => sender.publisher.isConnected, 10_000, 'connected');

  await loseInTheGap(sender, broker, ingest, 0, 3);
  await waitFor(() => ingest.connections.connected === 2, 10_000, 'the lanes subscribed again');
  await sleep(RESEND_AFTER_MS * 2);
  t.is((await storedIds(name, 'results')).length, 0, 'nothing confirmed since: nothing is sent again');

  const heartbeat = crypto.randomUUID();
  t.true(sender.publisher.publishNow('health', healthPayload('ambulance-7', heartbeat, { uptimeSec: 1, lamp: { backend: 'sim', level: 'GREEN' }, queueDepth: 0, outbox: { pending: 0, oldestPendingAt: null, warnAt: 10_000, overLimit: false }, lastResultAt: null, model: null, diskFreeBytes: 1, cpuTempC: null })));
  await waitFor(async () => (await storedIds(name, 'results')).length === 3, 15_000, 'the 3 sent again after the heartbeat was confirmed');
  t.deepEqual(await storedIds(name, 'health'), [heartbeat]);
  await waitFor(() => sender.outbox.awaitingReceipt() === 0, 5_000, 'every receipt');
});

test.serial('while the dashboard is down nothing is sent again: the broker keeps its share, and each is stored once when it returns', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const first = await dashboard(t, broker);
  const sender = device(t, broker);
  recordResults(sender.history, 5);
  sender.publisher.start();
  await waitFor(() => sender.outbox.awaitingReceipt() === 0 && sender.outbox.backlog().pending === 0, 10_000, 'the first 5 confirmed');
  await first.stop();
  recordResults(sender.history, 20, 5);
  sender.publisher.poke();
  await sleep(RESEND_AFTER_MS * 3);
  t.is(sender.outbox.awaitingReceipt(), 20, 'acknowledged by the broker, waiting for the dashboard');
  const second = await dashboard(t, broker, first.name);
  await waitFor(async () => (await storedIds(first.name, 'results')).length === 25 && sender.outbox.awaitingReceipt() === 0, 15_000, 'all 25 stored and confirmed');
  t.is(second.ingest.counters.duplicates, 0, 'none was sent twice');
});

test.serial('a receipt for another device, or not one at all, changes nothing and is said once', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const sender = device(t, broker);
  recordResults(sender.history, 2);
  sender.publisher.start();
  await waitFor(() => sender.outbox.backlog().pending === 0, 10_000, 'delivered');
  const [id] = queuedIds(sender.history, 2);
  const { default: mqtt } = await import('mqtt');
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  t.teardown(() => client.endAsync(true));
  const receiptTopic = 'cspine/v1/ambulance-7/receipt';
  await client.publishAsync(receiptTopic, JSON.stringify({ schema: 'cspine.receipt.v1', deviceId: 'ambulance-8', at: new Date().toISOString(), ids: [id] }), { qos: 1 });
  await client.publishAsync(receiptTopic, 'not json', { qos: 1 });
  await sleep(300);
  t.is(sender.outbox.awaitingReceipt(), 2);
  t.is(sender.log.lines.filter((line) => /not one for this device/.test(String(line.msg))).length, 1);
  await client.publishAsync(receiptTopic, JSON.stringify({ schema: 'cspine.receipt.v1', deviceId: 'ambulance-7', at: new Date().toISOString(), ids: [id] }), { qos: 1 });
  await waitFor(() => sender.outbox.awaitingReceipt() === 1, 5_000, 'the receipt for this device');
});
