/**
 * A flood of TCP connections that never associate (a port scanner, a broken sender, a hostile
 * peer) must not lock out the modalities: strangers are closed at accept, one address holds a
 * bounded number of sockets, a connection without its A-ASSOCIATE-RQ is closed soon, and a
 * full receiver answers the documented transient rejection instead of dropping the connection.
 */
import test, { type ExecutionContext } from 'ava';
import { configSchema } from '../../src/config/schema.js';
import { cEcho } from '../../src/capture/dicom-receiver/echo.js';
import { associateRq, PduType } from '../../src/capture/dicom-receiver/pdu.js';
import { MAX_WAITING_CONNECTIONS } from '../../src/capture/dicom-receiver/scp.js';
import { tempDir, waitFor } from '../helpers/fixtures.js';
import { AE, dcmtkAvailable, filesIn, makePhantom, RawPeer, SOP, startReceiver, tool, type RunningReceiver } from '../helpers/dicom-receiver.js';

const dcmtk = dcmtkAvailable() ? test : test.skip;

function storescu(rx: RunningReceiver, files: string[]) {
  return tool('storescu', ['-aec', AE, '127.0.0.1', String(rx.port), ...files]);
}

function logged(rx: RunningReceiver, message: RegExp): Array<Record<string, unknown>> {
  return rx.log.lines.filter((line) => message.test(String(line.msg)));
}

/** `count` connections that never send a byte, the i-th from `from(i)`, one after the other; closed when the test ends. */
async function silentConnections(t: ExecutionContext, port: number, count: number, from: (i: number) => string): Promise<RawPeer[]> {
  const peers: RawPeer[] = [];
  t.teardown(() => peers.forEach((peer) => peer.socket.destroy()));
  for (let i = 0; i < count; i++) peers.push(await RawPeer.connect(port, from(i)));
  return peers;
}

/** Stores one phantom with storescu; resolves with how long it took, after checking it is in the capture folder. */
async function storesPromptly(t: ExecutionContext, rx: RunningReceiver, name: string): Promise<number> {
  const { file, sopInstanceUid } = await makePhantom(tempDir(t), name);
  const started = Date.now();
  const run = await storescu(rx, [file]);
  const ms = Date.now() - started;
  t.is(run.code, 0, run.output);
  t.true(filesIn(rx.captureDir).includes(`${rx.pseudonymizer.ref('sop', sopInstanceUid)}.dcm`), 'the instance is in the capture folder');
  // Well under associationTimeoutMs (30 s): the modality was read at once, not after the flood timed out.
  t.true(ms < 5000, `stored in ${ms} ms`);
  return ms;
}

function dxRequest(callingAE: string): Buffer {
  return associateRq(AE, callingAE, [{ id: 1, abstractSyntax: SOP.DX, transferSyntaxes: ['1.2.840.10008.1.2.1'] }], 65536);
}

dcmtk('twenty silent connections from twenty addresses do not lock out a modality: storescu stores at once', async (t) => {
  const rx = await startReceiver(t);
  const silent = await silentConnections(t, rx.port, 20, (i) => `127.0.0.${2 + i}`);
  await storesPromptly(t, rx, 'dx');
  t.true(
    silent.every((peer) => !peer.isClosed),
    'none of them was dropped to make room: each still has its time for an A-ASSOCIATE-RQ',
  );
});

dcmtk('a peer not in allowedPeers is closed at accept, before any PDU, and logged once', async (t) => {
  const rx = await startReceiver(t, { allowedPeers: ['127.0.0.1'] });
  const strangers = await silentConnections(t, rx.port, 15, () => '127.0.0.2');
  // Far sooner than requestTimeoutMs (5 s): nobody waits for a stranger's request.
  await waitFor(() => strangers.every((peer) => peer.isClosed), 2000, 'the strangers to be closed at accept');
  t.true(
    strangers.every((peer) => peer.pdus.length === 0),
    'a stranger is told nothing',
  );
  const refused = logged(rx, /connection refused/);
  t.is(refused.length, 1, 'one line for the peer, not one per connection');
  t.like(refused[0], { level: 40, code: 'E_DIMSE_ASSOCIATION_REJECTED', peer: '127.0.0.2' });
  t.regex(String(refused[0]?.msg), /127\.0\.0\.2 is not in dicom\.receiver\.allowedPeers/);
  t.deepEqual(logged(rx, /association ended/), [], 'a refused connection is no association');
  await storesPromptly(t, rx, 'dx');
});

test('this machine itself is not closed at accept: outside allowedPeers, doctor still gets its A-ASSOCIATE-RJ', async (t) => {
  const rx = await startReceiver(t, { allowedPeers: ['192.0.2.1'] });
  const echo = await cEcho({ host: '127.0.0.1', port: rx.port, calledAE: AE, callingAE: 'CSPINE_DOCTOR', timeoutMs: 3000 });
  t.deepEqual(echo, { kind: 'rejected', result: 1, source: 1, reason: 1 });
});

dcmtk('one address holds at most maxConnectionsPerPeer connections; more are refused at accept and logged once', async (t) => {
  const rx = await startReceiver(t, { maxConnectionsPerPeer: 2 });
  const flood = await silentConnections(t, rx.port, 20, () => '127.0.0.2');
  await waitFor(() => flood.filter((peer) => peer.isClosed).length === 18, 2000, '18 of the 20 to be refused');
  t.true(flood.slice(0, 2).every((peer) => !peer.isClosed), 'the first two keep their time for a request');
  const refused = logged(rx, /connection refused/);
  t.is(refused.length, 1, 'one line for the peer, not one per connection');
  t.like(refused[0], { level: 40, code: 'E_DIMSE_ASSOCIATION_REJECTED', peer: '127.0.0.2' });
  t.regex(String(refused[0]?.msg), /maxConnectionsPerPeer/);
  await storesPromptly(t, rx, 'dx');
});

dcmtk('with maxAssociations open, the next association is refused as transient, local limit exceeded, even during a flood', async (t) => {
  const rx = await startReceiver(t, { maxAssociations: 1 });
  const holder = await RawPeer.associate(rx.port);
  await silentConnections(t, rx.port, 12, (i) => `127.0.0.${2 + i}`);

  const late = await RawPeer.connect(rx.port);
  late.socket.write(dxRequest('LATE'));
  const answer = await late.next();
  t.is(answer.type, PduType.ASSOCIATE_RJ);
  t.deepEqual([...answer.body], [0, 2, 3, 2], 'result 2 rejected-transient, source 3 service provider (presentation), reason 2 local limit exceeded');
  late.socket.destroy();

  const { file } = await makePhantom(tempDir(t), 'dx');
  const run = await storescu(rx, [file]);
  t.not(run.code, 0);
  t.regex(run.output, /Result: Rejected Transient, Source: Service Provider \(Presentation Related\)/);
  t.regex(run.output, /Reason: Local Limit Exceeded/);
  const refusals = logged(rx, /association refused/);
  t.is(refusals.length, 2);
  t.like(refusals[0], { level: 40, code: 'E_DIMSE_ASSOCIATION_REJECTED', callingAE: 'LATE', result: 2, source: 3, reason: 2 });
  t.regex(String(refusals[0]?.msg), /maxAssociations/);

  holder.socket.destroy();
  await holder.closed;
  await waitFor(() => rx.receiver.state.state === 'listening' && logged(rx, /association ended/).some((line) => line.callingAE === 'RAWPEER'), 5000, 'the holder to go');
  await storesPromptly(t, rx, 'after');
});

dcmtk(`beyond ${MAX_WAITING_CONNECTIONS} connections without an association, the longest-waiting one makes room`, async (t) => {
  const rx = await startReceiver(t);
  // One address each: the bound here is the total, not maxConnectionsPerPeer.
  const silent = await silentConnections(t, rx.port, MAX_WAITING_CONNECTIONS + 6, (i) => `127.0.0.${2 + i}`);
  await waitFor(() => silent.filter((peer) => peer.isClosed).length === 6, 2000, 'six to be closed');
  t.true(silent.slice(0, 6).every((peer) => peer.isClosed), 'the six that waited longest');
  const evicted = await waitFor(() => logged(rx, /association ended/).length === 6 && logged(rx, /association ended/), 2000, 'six endings to be logged');
  t.like(evicted[0], { code: 'E_DIMSE_ASSOCIATION_ABORTED', peer: '127.0.0.2' });
  t.regex(String(evicted[0]?.msg), /closed to make room for a newer connection/);
  await storesPromptly(t, rx, 'dx');
});

test('a connection without its A-ASSOCIATE-RQ within requestTimeoutMs is closed, however slowly it drips bytes', async (t) => {
  const rx = await startReceiver(t, { requestTimeoutMs: 500, associationTimeoutMs: 30_000 });
  const started = Date.now();
  const mute = await RawPeer.connect(rx.port, '127.0.0.2');
  const drip = await RawPeer.connect(rx.port, '127.0.0.3');
  const request = dxRequest('DRIP');
  let sent = 0;
  const dripping = setInterval(() => drip.socket.write(request.subarray(sent, ++sent)), 50);
  t.teardown(() => clearInterval(dripping));
  await waitFor(() => mute.isClosed && drip.isClosed, 5000, 'both to be closed');
  const ms = Date.now() - started;
  t.true(ms >= 450 && ms < 2000, `closed after ${ms} ms, not associationTimeoutMs`);
  t.true(sent < request.length, 'the request never completed');
  // Logged when the receiver's side has closed too, a moment after the peer saw it.
  const ended = await waitFor(() => logged(rx, /association ended/).length === 2 && logged(rx, /association ended/), 2000, 'both endings to be logged');
  t.deepEqual(ended.map((line) => line.peer).sort(), ['127.0.0.2', '127.0.0.3']);
  for (const line of ended) {
    t.like(line, { level: 40, code: 'E_DIMSE_ASSOCIATION_ABORTED' });
    t.regex(String(line.msg), /no A-ASSOCIATE-RQ within 500 ms/);
  }
});

test('config: requestTimeoutMs and maxConnectionsPerPeer have defaults and bounds', (t) => {
  t.like(configSchema.parse({}).dicom.receiver, { requestTimeoutMs: 5000, maxConnectionsPerPeer: 4, associationTimeoutMs: 30_000 });
  for (const bad of [{ requestTimeoutMs: 50 }, { maxConnectionsPerPeer: 0 }, { maxConnectionsPerPeer: 1.5 }]) {
    t.false(configSchema.safeParse({ dicom: { receiver: bad } }).success, JSON.stringify(bad));
  }
});
