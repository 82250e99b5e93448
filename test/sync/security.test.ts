import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { makeCertificates } from '../helpers/certificates.js';
import { brokerKinds, mosquittoBinary, startBroker, subscriber } from '../helpers/brokers.js';
import { recordResults } from '../../src/tools/fixtures/results.js';
import { DEVICE_ID, inProcessDevice } from '../helpers/device.js';
import { tempDir, waitFor } from '../helpers/fixtures.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const tlsTest = mosquittoBinary() ? test : test.skip;

tlsTest('TLS with a CA and client certificates against Mosquitto with require_certificate', async (t) => {
  const certs = makeCertificates(tempDir(t));
  const broker = await startBroker(t, 'mosquitto', { tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey } });
  const dashboard = await subscriber(t, broker, `cspine/v1/${DEVICE_ID}/result`, { ca: fs.readFileSync(certs.ca), cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) });

  const device = inProcessDevice(t, broker, { tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
  recordResults(device.history, 3);
  device.publisher.start();
  await waitFor(() => dashboard.uniqueIds.size === 3 && device.outbox.backlog().pending === 0, 15_000, 'delivery over TLS');

  // Without a client certificate the broker refuses; the publisher keeps its results and retries.
  const anonymous = inProcessDevice(t, broker, { clientId: 'no-cert', tls: { ca: certs.ca } });
  recordResults(anonymous.history, 2);
  anonymous.publisher.start();
  await sleep(1500);
  t.false(anonymous.publisher.isConnected);
  t.is(anonymous.outbox.backlog().pending, 2);
  t.true(anonymous.log.lines.some((line) => line.msg === 'MQTT connection error'));
});

for (const kind of brokerKinds()) {
  test(`${kind}: a wrong password gives a clear error and bounded retries, never a crash; the right one delivers`, async (t) => {
    const broker = await startBroker(t, kind, { credentials: { username: 'edge', password: 'correct horse' } });
    const wrong = inProcessDevice(t, broker, { username: 'edge', password: 'battery staple', reconnectMinMs: 100, reconnectMaxMs: 800 });
    const refusals: string[] = [];
    wrong.publisher.on('refused', (reason) => refusals.push(reason));
    recordResults(wrong.history, 2);
    wrong.publisher.start();
    await sleep(2500);
    t.false(wrong.publisher.isConnected);
    t.true(refusals.length >= 1, 'the refusal is reported');
    // After a refusal the next try waits at least the longest back-off (800 ms here, 60 s by
    // default): tries at 0, ≥ 0.8 and ≥ 1.6 s, and perhaps ≥ 2.4 s.
    t.true(refusals.length <= 4, `retries are bounded: ${refusals.length} attempts in 2.5 s`);
    t.regex(refusals[0]!, /refused the connection .*check sync\.mqtt\.username \/ password \/ passwordFile/);
    t.true(wrong.log.lines.some((line) => line.code === 'E_SYNC_REFUSED'));
    t.false(JSON.stringify(wrong.log.lines).includes('battery staple'), 'the password is never logged');
    t.is(wrong.outbox.backlog().pending, 2, 'results wait in the outbox');

    const secretDir = tempDir(t);
    const passwordFile = path.join(secretDir, 'mqtt-password');
    fs.writeFileSync(passwordFile, 'correct horse\n', { mode: 0o600 });
    const right = inProcessDevice(t, broker, { clientId: 'edge-right', username: 'edge', passwordFile });
    recordResults(right.history, 2);
    right.publisher.start();
    await waitFor(() => right.outbox.backlog().pending === 0, 10_000, 'delivery with the right password');
    t.pass();
  });
}
