import crypto from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { configSchema } from '../../src/config/schema.js';
import type { Ingest } from '../../src/dashboard/ingest/ingest.js';
import { healthPayload } from '../../src/sync/payloads.js';
import { recordResults } from '../../src/tools/fixtures/results.js';
import { startBroker, type TestBroker } from '../helpers/brokers.js';
import { inProcessDevice, queuedIds } from '../helpers/device.js';
import { postgresForFile, startIngest, until } from '../helpers/ingest.js';

// A real device outbox and publisher, a real dashboard ingest, Mosquitto and PostgreSQL: the
// broker acknowledges what it then loses, and only the dashboard's receipt can tell.
const cluster = postgresForFile(test, 'receipts');

// Short for the test, with room for a loaded CI machine: a receipt slower than this is a duplicate.
const RESEND_AFTER_MS = 2_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ingest with lanes that come back slowly after a broker restart (devices come back first). */
async function dashboard(t: ExecutionContext, broker: TestBroker, database?: string) {
  const name = database ?? (await cluster.newDatabase());
  const settings = configSchema.parse({ dashboard: { instanceId: 'test', mqtt: { url: broker.url, reconnectMs: 3_000, lanes: 2 }, postgres: { url: cluster.url(name) } } }).dashboard;
  const { ingest, stop } = await startIngest(t, settings);
  await until(() => ingest.connections.connected === 2, 'the lanes subscribed', 10_000);
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
  await until(() => ingest.connections.connected === 0 && !device.publisher.isConnected, 'both to notice', 10_000);
  await broker.start();
  await until(() => device.publisher.isConnected, 'the device back', 10_000);
  recordResults(device.history, count, first);
  device.publisher.poke();
  await until(() => device.outbox.backlog().pending === 0, 'the broker to acknowledge them', 10_000);
  // Mosquitto 2.0 kept the lanes' sessions but not their shared subscriptions: nobody got these.
  if (ingest.connections.connected !== 0) throw new Error('a lane subscribed again before the broker acknowledged: this run proves nothing; slow the lanes further');
}

test.serial('results the broker acknowledged but lost in a restart are sent again once the dashboard confirms later ones; each stored once', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const { name, ingest } = await dashboard(t, broker);
  const sender = device(t, broker);
  recordResults(sender.history, 10);
  sender.publisher.start();
  await until(async () => (await storedIds(name, 'results')).length === 10 && sender.outbox.awaitingReceipt() === 0, 'the first 10 confirmed', 10_000);

  await loseInTheGap(sender, broker, ingest, 10, 5);
  await until(() => ingest.connections.connected === 2, 'the lanes subscribed again', 10_000);
  t.is((await storedIds(name, 'results')).length, 10, 'the 5 sent in the gap never reached the dashboard');
  t.is(sender.outbox.awaitingReceipt(), 5);

  recordResults(sender.history, 5, 15);
  sender.publisher.poke();
  await until(async () => (await storedIds(name, 'results')).length === 20, 'the lost 5 sent again, with the 5 after them', 15_000).catch(async (error: Error) => {
    throw new Error(`${error.message}: ${(await storedIds(name, 'results')).length} stored, ${sender.outbox.awaitingReceipt()} awaiting a receipt`);
  });
  await until(() => sender.outbox.awaitingReceipt() === 0, 'every receipt', 5_000);
  t.deepEqual(await storedIds(name, 'results'), queuedIds(sender.history, 20).sort());
  t.is(ingest.counters.duplicates, 0, 'only the lost ones were sent again');
  t.true(sender.log.lines.some((line) => /never confirmed/.test(String(line.msg)) && line.count === 5), 'the device says it resends, and how many');
});

test.serial('a heartbeat confirmed after the gap is enough: the last results before a quiet spell do not wait for the next one', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const { name, ingest } = await dashboard(t, broker);
  const sender = device(t, broker);
  sender.publisher.start();
  await until(() => sender.publisher.isConnected, 'connected', 10_000);

  await loseInTheGap(sender, broker, ingest, 0, 3);
  await until(() => ingest.connections.connected === 2, 'the lanes subscribed again', 10_000);
  await sleep(RESEND_AFTER_MS * 2);
  t.is((await storedIds(name, 'results')).length, 0, 'nothing confirmed since: nothing is sent again');

  const heartbeat = crypto.randomUUID();
  t.true(sender.publisher.publishNow('health', healthPayload('ambulance-7', heartbeat, { uptimeSec: 1, lamp: { backend: 'sim', level: 'GREEN' }, queueDepth: 0, outbox: { pending: 0, oldestPendingAt: null, warnAt: 10_000, overLimit: false }, lastResultAt: null, model: null, diskFreeBytes: 1, cpuTempC: null })));
  await until(async () => (await storedIds(name, 'results')).length === 3, 'the 3 sent again after the heartbeat was confirmed', 15_000);
  t.deepEqual(await storedIds(name, 'health'), [heartbeat]);
  await until(() => sender.outbox.awaitingReceipt() === 0, 'every receipt', 5_000);
});

test.serial('while the dashboard is down nothing is sent again: the broker keeps its share, and each is stored once when it returns', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const first = await dashboard(t, broker);
  const sender = device(t, broker);
  recordResults(sender.history, 5);
  sender.publisher.start();
  await until(() => sender.outbox.awaitingReceipt() === 0 && sender.outbox.backlog().pending === 0, 'the first 5 confirmed', 10_000);
  await first.stop();
  recordResults(sender.history, 20, 5);
  sender.publisher.poke();
  await sleep(RESEND_AFTER_MS * 2);
  t.is(sender.outbox.awaitingReceipt(), 20, 'acknowledged by the broker, waiting for the dashboard');
  const second = await dashboard(t, broker, first.name);
  await until(async () => (await storedIds(first.name, 'results')).length === 25 && sender.outbox.awaitingReceipt() === 0, 'all 25 stored and confirmed', 15_000);
  t.is(second.ingest.counters.duplicates, 0, 'none was sent twice');
});

test.serial('a receipt for another device, or not one at all, changes nothing and is said once', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const sender = device(t, broker);
  recordResults(sender.history, 2);
  sender.publisher.start();
  await until(() => sender.outbox.backlog().pending === 0, 'delivered', 10_000);
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
  await until(() => sender.outbox.awaitingReceipt() === 1, 'the receipt for this device', 5_000);
});
