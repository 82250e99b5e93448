import test from 'ava';
import { brokerKinds, networkLink, startBroker, subscriber, type BrokerKind } from '../helpers/brokers.js';
import { recordResults } from '../../src/tools/fixtures/results.js';
import { DEVICE_ID, inProcessDevice, queuedIds } from '../helpers/device.js';
import { waitFor } from '../helpers/fixtures.js';
import { assertValidPayload } from '../helpers/schemas.js';

const RESULTS = `cspine/v1/${DEVICE_ID}/result`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of brokerKinds()) {
  test(`${kind}: broker unreachable at start → results queue → broker reachable → each delivered once, in order`, async (t) => {
    const broker = await startBroker(t, kind);
    const dashboard = await subscriber(t, broker, RESULTS);
    const link = await networkLink(t, broker); // starts cut: the device cannot reach the broker

    const device = inProcessDevice(t, { url: link.url, protocolVersion: broker.protocolVersion });
    recordResults(device.history, 30);
    device.publisher.start();
    await sleep(400);
    t.false(device.publisher.isConnected);
    t.is(device.outbox.backlog().pending, 30, 'nothing is delivered or lost while the broker is unreachable');

    await link.restore();
    await waitFor(() => device.outbox.backlog().pending === 0 && dashboard.uniqueIds.size === 30, 15_000, 'delivery').catch((error: Error) => {
      throw new Error(`${error.message}: backlog ${device.outbox.backlog().pending}, seen ${dashboard.uniqueIds.size}, connected ${device.publisher.isConnected}, dashboard connected ${dashboard.client.connected}`);
    });
    await sleep(200);
    t.is(dashboard.messages.length, 30, 'each delivered once');
    t.deepEqual(
      dashboard.messages.map((m) => m.payload.id),
      queuedIds(device.history, 30),
      'in the order they were recorded',
    );
    for (const message of dashboard.messages) {
      assertValidPayload(t, message.payload);
      t.false(JSON.stringify(message.payload).includes('SMITH'), 'no file name (possibly a patient name) leaves the device');
    }
    t.true(device.history.recent(30).every((entry) => entry.delivery?.deliveredAt !== null));
  });

  test(`${kind}: 1,000 queued results, broker killed mid-stream and restarted → exactly 1,000 after de-duplication`, async (t) => {
    const broker = await startBroker(t, kind);
    const dashboard = await subscriber(t, broker, RESULTS);
    const device = inProcessDevice(t, broker, { inflightWindow: 16 });
    recordResults(device.history, 1000);
    device.publisher.start();
    await waitFor(() => dashboard.uniqueIds.size >= 250, 20_000, 'the first quarter');
    await broker.stop();
    const atKill = dashboard.uniqueIds.size;
    await sleep(300);
    await broker.start();
    await waitFor(() => device.outbox.backlog().pending === 0 && dashboard.uniqueIds.size === 1000, 60_000, 'all 1,000');
    t.true(atKill < 1000, 'the broker died mid-stream');
    t.is(dashboard.uniqueIds.size, 1000);
    t.deepEqual([...dashboard.uniqueIds].sort(), queuedIds(device.history, 1000).sort());
    t.log(`${kind}: ${atKill} seen before the kill, ${dashboard.messages.length} messages in all for 1,000 results`);
  });
}

test('a delivered row is not sent again after a reconnect', async (t) => {
  const [kind] = brokerKinds() as [BrokerKind];
  const broker = await startBroker(t, kind);
  const device = inProcessDevice(t, broker);
  recordResults(device.history, 5);
  device.publisher.start();
  await waitFor(() => device.outbox.backlog().pending === 0, 10_000, 'first batch');
  await broker.stop();
  await broker.start();
  // A fresh listener sees only what is published from now on.
  const dashboard = await subscriber(t, broker, RESULTS, { clean: true });
  await waitFor(() => device.publisher.isConnected, 10_000, 'reconnect');
  recordResults(device.history, 5, 5);
  device.publisher.poke();
  await waitFor(() => device.outbox.backlog().pending === 0 && dashboard.uniqueIds.size === 5, 10_000, 'second batch');
  await sleep(200);
  t.is(dashboard.messages.length, 5);
  t.deepEqual([...dashboard.uniqueIds], queuedIds(device.history, 10).slice(5));
});
