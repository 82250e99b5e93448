import test from 'ava';
import { brokerKinds, startBroker, subscriber } from '../helpers/brokers.js';
import { DEVICE_ID, inProcessDevice } from '../helpers/device.js';
import { waitFor } from '../helpers/fixtures.js';
import { assertValidPayload } from '../helpers/schemas.js';

const STATUS = `cspine/v1/${DEVICE_ID}/status`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of brokerKinds()) {
  test(`${kind}: a clean stop says offline once, itself, stamped at the stop, and no last will follows`, async (t) => {
    const broker = await startBroker(t, kind);
    const dashboard = await subscriber(t, broker, STATUS);
    const device = inProcessDevice(t, { url: broker.url, protocolVersion: broker.protocolVersion });
    device.publisher.start();
    await waitFor(() => dashboard.messages.some((m) => m.payload.state === 'online'), 10_000, 'online');
    // The will would carry the time the connection opened; make that visibly older than the stop.
    await sleep(1100);
    const stopAt = Date.now();
    await device.publisher.stop();
    await sleep(1500); // a will, if any, arrives within this
    const offline = dashboard.messages.filter((m) => m.payload.state === 'offline');
    t.is(offline.length, 1, `status messages: ${JSON.stringify(dashboard.messages.map((m) => m.payload))}`);
    t.true(Date.parse(String(offline[0]!.payload.at)) >= stopAt - 5, 'stamped at the stop, not at connect');
    assertValidPayload(t, offline[0]!.payload);
  });
}
