import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { configSchema } from '../../src/config/schema.js';
import { allows, peerList } from '../../src/capture/dicom-receiver/receiver.js';
import { pData, PduType } from '../../src/capture/dicom-receiver/pdu.js';
import { Spool } from '../../src/capture/dicom-receiver/spool.js';
import { tempDir, waitFor } from '../helpers/fixtures.js';
import {
  AE,
  dataSet,
  dcmtkAvailable,
  filesIn,
  jpegBaselineOnlyProfile,
  makeJpeg2000,
  makeJpegBaseline,
  makePhantom,
  PHANTOM_PATIENT,
  RawPeer,
  SOP,
  startReceiver,
  storeCommand,
  tool,
  transcode,
  type RunningReceiver,
} from '../helpers/dicom-receiver.js';

const dcmtk = dcmtkAvailable() ? test : test.skip;

function storescu(rx: RunningReceiver, files: string[], extra: string[] = []) {
  return tool('storescu', ['-aec', AE, ...extra, '127.0.0.1', String(rx.port), ...files]);
}

/** No log line may carry a raw UID or anything from the patient module. */
function assertNothingIdentifying(t: ExecutionContext, rx: RunningReceiver, uids: string[]) {
  const text = JSON.stringify(rx.log.lines);
  for (const uid of uids) t.false(text.includes(uid), `raw UID ${uid} in the log`);
  for (const value of Object.values(PHANTOM_PATIENT)) t.false(text.includes(value), `${value} in the log`);
}

function logged(rx: RunningReceiver, message: RegExp): Array<Record<string, unknown>> {
  return rx.log.lines.filter((line) => message.test(String(line.msg)));
}

dcmtk('echoscu: C-ECHO succeeds and is logged with the calling AE and address', async (t) => {
  const rx = await startReceiver(t);
  const run = await tool('echoscu', ['-aet', 'MODALITY1', '-aec', AE, '127.0.0.1', String(rx.port)]);
  t.is(run.code, 0, run.output);
  await waitFor(() => logged(rx, /released/).length === 1, 10_000, 'release');
  t.like(logged(rx, /association accepted/)[0], { callingAE: 'MODALITY1', calledAE: AE, peer: '127.0.0.1' });
  t.is(logged(rx, /C-ECHO answered/).length, 1);
});

dcmtk('storescu round trip: the instance lands in the capture folder with its data set byte for byte', async (t) => {
  const rx = await startReceiver(t, { allowedCallingAeTitles: ['STORESCU'], allowedPeers: ['127.0.0.0/8', '::1'] });
  const work = tempDir(t);
  const { file, sopInstanceUid } = await makePhantom(work, 'dx');
  const run = await storescu(rx, [file]);
  t.is(run.code, 0, run.output);

  // The success status came after the file was in place: nothing to wait for.
  const [name] = filesIn(rx.captureDir);
  t.is(name, `${rx.pseudonymizer.ref('sop', sopInstanceUid)}.dcm`, 'named by the pseudonym, never the UID');
  t.deepEqual(filesIn(rx.spoolDir), []);
  const stored = path.join(rx.captureDir, name!);
  t.true(dataSet(stored).equals(dataSet(file)), 'data set byte-identical');
  const dump = await tool('dcmdump', [stored]);
  t.is(dump.code, 0, dump.output);
  t.regex(dump.stdout, /\(0002,0010\) UI =LittleEndianExplicit/);
  t.regex(dump.stdout, new RegExp(`\\(0002,0003\\) UI \\[${sopInstanceUid.replace(/\./g, '\\.')}\\]`));
  t.regex(dump.stdout, /\(0002,0016\) AE \[STORESCU\]/);

  const [received] = logged(rx, /instance received/);
  t.like(received, { callingAE: 'STORESCU', peer: '127.0.0.1', sopClass: 'Digital X-Ray Image Storage - For Presentation', sopInstance: rx.pseudonymizer.ref('sop', sopInstanceUid) });
  assertNothingIdentifying(t, rx, [sopInstanceUid]);
});

dcmtk('Implicit VR LE, JPEG Lossless SV1 and JPEG 2000 lossless are accepted as sent, CR and secondary capture too', async (t) => {
  const rx = await startReceiver(t);
  const work = tempDir(t);
  const dx = await makePhantom(work, 'dx');
  const implicit = await transcode(dx.file, 'implicit', path.join(work, 'implicit.dcm'));
  const sv1Source = await makePhantom(work, 'sv1-src');
  const sv1 = await transcode(sv1Source.file, 'jpeg-lossless-sv1', path.join(work, 'sv1.dcm'));
  const j2k = await makeJpeg2000(work, 'j2k');
  const cr = await makePhantom(work, 'cr', { sopClass: SOP.CR });
  const sc = await makePhantom(work, 'sc', { sopClass: SOP.SC, bits: 8 });

  const cases: Array<[string, string, string[], string]> = [
    [implicit, dx.sopInstanceUid, ['-xi'], 'LittleEndianImplicit'],
    [sv1, sv1Source.sopInstanceUid, ['-xs'], 'JPEGLossless:Non-hierarchical-1stOrderPrediction'],
    [j2k.file, j2k.sopInstanceUid, ['-xv'], 'JPEG2000LosslessOnly'],
    [cr.file, cr.sopInstanceUid, [], 'LittleEndianExplicit'],
    [sc.file, sc.sopInstanceUid, [], 'LittleEndianExplicit'],
  ];
  for (const [file, uid, flags, syntax] of cases) {
    const run = await storescu(rx, [file], flags);
    t.is(run.code, 0, `${path.basename(file)}: ${run.output}`);
    const stored = path.join(rx.captureDir, `${rx.pseudonymizer.ref('sop', uid)}.dcm`);
    t.true(fs.existsSync(stored), path.basename(file));
    t.true(dataSet(stored).equals(dataSet(file)), `${path.basename(file)}: data set byte-identical`);
    t.regex((await tool('dcmdump', [stored])).stdout, new RegExp(`\\(0002,0010\\) UI =${syntax.replace(/[.:-]/g, '\\$&')}`));
  }
  t.deepEqual(filesIn(rx.spoolDir), []);
});

dcmtk('an unknown calling AE is refused at association: A-ASSOCIATE-RJ, calling AE not recognized', async (t) => {
  const rx = await startReceiver(t, { allowedCallingAeTitles: ['MODALITY1'] });
  const { file, sopInstanceUid } = await makePhantom(tempDir(t), 'dx');
  const run = await tool('storescu', ['-aet', 'STRANGER', '-aec', AE, '127.0.0.1', String(rx.port), file]);
  t.not(run.code, 0);
  t.regex(run.output, /Association Rejected/);
  t.regex(run.output, /Result: Rejected Permanent, Source: Service User/);
  t.regex(run.output, /Reason: Calling AE Title Not Recognized/);
  t.deepEqual(filesIn(rx.captureDir), []);
  t.like(logged(rx, /association refused/)[0], { code: 'E_DIMSE_ASSOCIATION_REJECTED', callingAE: 'STRANGER', peer: '127.0.0.1', reason: 3 });
  assertNothingIdentifying(t, rx, [sopInstanceUid]);

  const echo = await tool('echoscu', ['-aet', 'MODALITY1', '-aec', AE, '127.0.0.1', String(rx.port)]);
  t.is(echo.code, 0, 'an allowed AE still gets in');
});

dcmtk('the wrong called AE and a peer outside the allowlist are refused', async (t) => {
  const rx = await startReceiver(t);
  const wrongCalled = await tool('echoscu', ['-aec', 'ANY-SCP', '127.0.0.1', String(rx.port)]);
  t.not(wrongCalled.code, 0);
  t.regex(wrongCalled.output, /Reason: Called AE Title Not Recognized/);

  // From this machine itself, so not closed at accept (dicom-receiver-flood.test.ts): refused at its request.
  const fenced = await startReceiver(t, { allowedPeers: ['10.20.0.0/16', '192.0.2.7'] });
  const outsider = await tool('echoscu', ['-aec', AE, '127.0.0.1', String(fenced.port)]);
  t.not(outsider.code, 0);
  t.regex(outsider.output, /Reason: No Reason\b/);
  t.regex(String(logged(fenced, /association refused/)[0]?.msg), /peer address 127\.0\.0\.1 is not in dicom\.receiver\.allowedPeers/);
});

dcmtk('an unsupported transfer syntax is refused per presentation context and nothing is written', async (t) => {
  const rx = await startReceiver(t);
  const work = tempDir(t);
  const jpeg = await makeJpegBaseline(work, 'sc-jpeg');
  const run = await tool('storescu', ['-d', ...jpegBaselineOnlyProfile(work), '-aec', AE, '127.0.0.1', String(rx.port), jpeg]);
  t.not(run.code, 0);
  t.regex(run.output, /Context ID:\s+1 \(Transfer Syntaxes Not Supported\)/);
  t.regex(run.output, /No Acceptable Presentation Contexts/);

  // JPEG extended (lossy) offered with the uncompressed syntaxes: only those are accepted, which
  // storescu cannot convert a JPEG file into, so it sends nothing.
  const extended = await transcode((await makePhantom(work, 'dx')).file, 'jpeg-extended', path.join(work, 'ext.dcm'));
  const lossy = await storescu(rx, [extended], ['-xx']);
  t.not(lossy.code, 0);
  t.deepEqual(filesIn(rx.captureDir), []);
  t.deepEqual(filesIn(rx.spoolDir), []);
});

dcmtk('SOP classes other than CR, DX for presentation, secondary capture and verification are refused', async (t) => {
  const rx = await startReceiver(t);
  const work = tempDir(t);
  for (const sopClass of [SOP.CT, SOP.DX_PROCESSING]) {
    const { file } = await makePhantom(work, `x${sopClass.length}`, { sopClass });
    const run = await storescu(rx, [file], ['-d', '-R']);
    t.not(run.code, 0);
    t.regex(run.output, /\(Abstract Syntax Not Supported\)/);
  }
  t.deepEqual(filesIn(rx.captureDir), []);
});

dcmtk('garbage from a raw socket ends that association only; the next storescu is served', async (t) => {
  const rx = await startReceiver(t);
  const garbage = await RawPeer.connect(rx.port);
  garbage.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: receiver\r\n\r\n'));
  await garbage.closed;
  const [abortPdu] = garbage.pdus;
  t.is(abortPdu?.type, PduType.ABORT, 'an A-ABORT before the close');
  await waitFor(() => logged(rx, /association ended/).length === 1, 10_000, 'the association to end');
  t.like(logged(rx, /association ended/)[0], { code: 'E_DIMSE_PROTOCOL_ERROR', peer: '127.0.0.1' });

  const { file } = await makePhantom(tempDir(t), 'dx');
  const run = await storescu(rx, [file]);
  t.is(run.code, 0, run.output);
  t.is(filesIn(rx.captureDir).length, 1);
});

dcmtk('a truncated P-DATA and a disconnect mid-instance leave no partial file anywhere', async (t) => {
  const rx = await startReceiver(t);
  const { file, sopInstanceUid } = await makePhantom(tempDir(t), 'dx');
  const body = dataSet(file);

  const peer = await RawPeer.associate(rx.port);
  peer.socket.write(pData(1, true, true, storeCommand(SOP.DX, sopInstanceUid)));
  peer.socket.write(pData(1, false, false, body.subarray(0, 2000)));
  // A P-DATA-TF header that promises more than ever comes.
  const truncated = pData(1, false, true, body.subarray(2000));
  peer.socket.write(truncated.subarray(0, 300));
  await waitFor(() => filesIn(rx.spoolDir).length === 1, 10_000, 'the instance to be spooling');
  peer.socket.destroy();
  await waitFor(() => logged(rx, /association ended/).length === 1, 10_000, 'the association to end');
  t.like(logged(rx, /association ended/)[0], { code: 'E_DIMSE_ASSOCIATION_ABORTED', instanceLost: true });
  t.deepEqual(filesIn(rx.spoolDir), []);
  t.deepEqual(filesIn(rx.captureDir), []);

  const run = await storescu(rx, [file]);
  t.is(run.code, 0, run.output);
  t.deepEqual(filesIn(rx.captureDir), [`${rx.pseudonymizer.ref('sop', sopInstanceUid)}.dcm`]);
});

dcmtk('a storescu killed mid-transfer leaves no partial file; the receiver keeps serving', async (t) => {
  // The real spool, slowed down, so the kill surely lands while the instance is arriving.
  let slow = true;
  let spool: Spool | undefined;
  const rx = await startReceiver(t, {}, {
    openInstance: async (name, header) => {
      const writer = await spool!.open(name, header);
      return {
        write: async (chunk) => {
          if (slow) await new Promise((resolve) => setTimeout(resolve, 50));
          return writer.write(chunk);
        },
        commit: () => writer.commit(),
        discard: () => writer.discard(),
      };
    },
  });
  spool = new Spool(rx.spoolDir, rx.captureDir);
  const slowed = rx;
  // 4 MB: about 32 PDUs of storescu's 128 KiB, 50 ms each here — the kill lands well before the end.
  const { file } = await makePhantom(tempDir(t), 'big', { width: 2048, height: 1024 });
  const { spawn } = await import('node:child_process');
  const child = spawn('storescu', ['-aec', AE, '127.0.0.1', String(slowed.port), file], { stdio: 'ignore' });
  await waitFor(() => filesIn(rx.spoolDir).some((name) => name.endsWith('.part') && (fs.statSync(path.join(rx.spoolDir, name), { throwIfNoEntry: false })?.size ?? 0) > 100_000), 10_000, 'the instance to be spooling');
  child.kill('SIGKILL');
  await waitFor(() => logged(slowed, /association ended/).length === 1, 10_000, 'the association to end');
  t.like(logged(slowed, /association ended/)[0], { instanceLost: true });
  t.deepEqual(filesIn(rx.spoolDir), []);
  t.deepEqual(filesIn(rx.captureDir), []);

  slow = false;
  const run = await storescu(slowed, [file]);
  t.is(run.code, 0, run.output);
  t.is(filesIn(rx.captureDir).length, 1);
  t.deepEqual(filesIn(rx.spoolDir), []);
});

dcmtk('an oversized instance and an oversized PDU end their association only', async (t) => {
  const rx = await startReceiver(t, { maxInstanceBytes: 20_000, maxPduBytes: 8192 });
  const work = tempDir(t);
  const big = await makePhantom(work, 'big', { width: 256, height: 256 });
  const run = await storescu(rx, [big.file]);
  t.not(run.code, 0);
  await waitFor(() => logged(rx, /association ended/).length === 1, 10_000, 'abort');
  t.like(logged(rx, /association ended/)[0], { code: 'E_DIMSE_INSTANCE_TOO_LARGE', instanceLost: true });
  t.deepEqual(filesIn(rx.captureDir), []);
  t.deepEqual(filesIn(rx.spoolDir), []);

  // A P-DATA-TF announcing more than maxPduBytes is refused from its header alone.
  const peer = await RawPeer.associate(rx.port);
  const header = Buffer.from([PduType.P_DATA_TF, 0, 0, 0, 0, 0]);
  header.writeUInt32BE(100 * 1024 * 1024, 2);
  peer.socket.write(header);
  await peer.closed;
  t.is(peer.pdus.at(-1)?.type, PduType.ABORT);
  await waitFor(() => logged(rx, /association ended/).length === 2, 10_000, 'the second association to end');
  t.regex(String(logged(rx, /association ended/)[1]?.msg), /over the limit of 8192/);

  // An A-ASSOCIATE-RQ announcing 1 GiB: the same.
  const raw = await RawPeer.connect(rx.port);
  const rq = Buffer.from([PduType.ASSOCIATE_RQ, 0, 0x40, 0, 0, 0]);
  raw.socket.write(rq);
  await raw.closed;

  const small = await makePhantom(work, 'small', { width: 32, height: 32 });
  t.is((await storescu(rx, [small.file])).code, 0);
});

dcmtk('a write failure answers Refused: Out of Resources (0xA700), never success, and leaves nothing', async (t) => {
  const work = tempDir(t);
  const { file } = await makePhantom(work, 'dx');

  const full = await startReceiver(t, {}, {
    openInstance: async () => ({
      write: async () => {
        throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      },
      commit: async () => 'never',
      discard: async () => undefined,
    }),
  });
  const run = await storescu(full, [file], ['-v']);
  t.not(run.code, 0);
  t.regex(run.output, /Refused: OutOfResources|0xa700/i);
  t.like(logged(full, /not stored/)[0], { code: 'E_DIMSE_STORE_FAILED', status: '0xa700' });
  t.regex(String(logged(full, /not stored/)[0]?.msg), /disk full/);

  // A real failure: the capture folder replaced by a file after start, so the rename fails.
  const rx = await startReceiver(t, { spoolDir: 'spool' });
  fs.rmSync(rx.captureDir, { recursive: true });
  fs.writeFileSync(rx.captureDir, 'not a folder');
  const failed = await storescu(rx, [file], ['-v']);
  t.not(failed.code, 0);
  t.regex(failed.output, /Refused: OutOfResources|0xa700/i);
  t.true(fs.statSync(rx.captureDir).isFile());
  t.deepEqual(filesIn(rx.spoolDir), [], 'the spooled copy is removed');
  t.like(logged(rx, /not stored/)[0], { code: 'E_DIMSE_STORE_FAILED', status: '0xa700' });
});

dcmtk('a capture folder removed while running (and made again by the service) does not stop the receiver', async (t) => {
  const rx = await startReceiver(t);
  fs.rmSync(rx.captureDir, { recursive: true });
  const { file, sopInstanceUid } = await makePhantom(tempDir(t), 'dx');
  const run = await storescu(rx, [file]);
  t.is(run.code, 0, run.output);
  t.deepEqual(filesIn(rx.captureDir), [`${rx.pseudonymizer.ref('sop', sopInstanceUid)}.dcm`]);
  t.deepEqual(filesIn(rx.spoolDir), []);
});

dcmtk('more associations than maxAssociations are refused as transient, local limit exceeded', async (t) => {
  const rx = await startReceiver(t, { maxAssociations: 1 });
  const holder = await RawPeer.associate(rx.port);
  const run = await tool('echoscu', ['-aec', AE, '127.0.0.1', String(rx.port)]);
  t.not(run.code, 0);
  t.regex(run.output, /Result: Rejected Transient, Source: Service Provider \(Presentation Related\)/);
  t.regex(run.output, /Reason: Local Limit Exceeded/);
  holder.socket.destroy();
  await waitFor(() => logged(rx, /association ended/).length === 1, 10_000, 'the holder to go');
  t.is((await tool('echoscu', ['-aec', AE, '127.0.0.1', String(rx.port)])).code, 0);
});

test('a silent association is aborted after idleTimeoutMs, a silent connection after requestTimeoutMs', async (t) => {
  const rx = await startReceiver(t, { idleTimeoutMs: 300, requestTimeoutMs: 2000 });
  const started = Date.now();
  const peer = await RawPeer.associate(rx.port);
  await peer.closed;
  t.true(Date.now() - started >= 250);
  t.is(peer.pdus.at(-1)?.type, PduType.ABORT);
  const mute = await RawPeer.connect(rx.port);
  await mute.closed;
  await waitFor(() => logged(rx, /association ended/).length === 2, 10_000, 'the second association to end');
  t.regex(String(logged(rx, /association ended/).at(-1)?.msg), /no A-ASSOCIATE-RQ within 2000 ms \(dicom\.receiver\.requestTimeoutMs\)/);
  t.is(rx.receiver.state.state, 'listening');
});

test('a port in use fails with its own code, and the receiver binds once the port is free', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  const root = tempDir(t);
  const config = configSchema.parse({
    capture: { dir: path.join(root, 'capture') },
    store: { path: path.join(root, 'data/cspine.db') },
    dicom: { receiver: { enabled: true, port, host: '127.0.0.1', bindRetryMs: 100 } },
  });
  const { capturedLogger } = await import('../helpers/fixtures.js');
  const { DicomReceiver, receiverStateFile } = await import('../../src/capture/dicom-receiver/receiver.js');
  const { Pseudonymizer } = await import('../../src/privacy/pseudonymizer.js');
  const log = capturedLogger();
  const changes: string[] = [];
  const receiver = new DicomReceiver(config, log.logger, new Pseudonymizer(Buffer.alloc(32, 7)), { onStateChange: (state) => changes.push(state.state) });
  t.teardown(() => receiver.stop());
  await receiver.start();
  const { state } = receiver;
  t.like(state, { state: 'failed', code: 'E_DICOM_RECEIVER_PORT_IN_USE', port });
  t.like(JSON.parse(fs.readFileSync(receiverStateFile(config), 'utf8')), { state: 'failed', code: 'E_DICOM_RECEIVER_PORT_IN_USE' });
  t.like(log.lines.find((line) => line.code === 'E_DICOM_RECEIVER_PORT_IN_USE'), { level: 50 });
  await waitFor(() => log.lines.filter((line) => line.code === 'E_DICOM_RECEIVER_PORT_IN_USE').length >= 3, 10_000, 'retries');
  await new Promise((resolve) => blocker.close(resolve));
  await waitFor(() => receiver.state.state === 'listening', 10_000, 'the retry to bind');
  t.like(JSON.parse(fs.readFileSync(receiverStateFile(config), 'utf8')), { state: 'listening', port, aeTitle: 'CSPINE_EDGE' });
  t.deepEqual(changes, ['failed', 'listening'], 'each failed retry is not a new state (one MQTT event, not one every bindRetryMs)');
});

test('spool leftovers from a crash are removed at start; a spool on another filesystem is refused', async (t) => {
  const root = tempDir(t);
  const spoolDir = path.join(root, 'capture/.dicom-spool');
  fs.mkdirSync(spoolDir, { recursive: true });
  fs.writeFileSync(path.join(spoolDir, 'sop-abc.dcm.123456.part'), 'half an instance');
  t.is(await new Spool(spoolDir, path.join(root, 'capture')).prepare(), 1);
  t.deepEqual(fs.readdirSync(spoolDir), []);
  if (fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').dev !== fs.statSync(root).dev) {
    const elsewhere = fs.mkdtempSync('/dev/shm/cspine-spool-');
    t.teardown(() => fs.rmSync(elsewhere, { recursive: true, force: true }));
    const error = await t.throwsAsync(new Spool(elsewhere, path.join(root, 'capture')).prepare());
    t.is((error as { code?: string }).code, 'E_DICOM_RECEIVER_SPOOL_FAILED');
  }
});

test('peer allowlist: exact addresses, CIDR blocks, IPv6 and IPv4-mapped peers', (t) => {
  const list = peerList(['192.168.10.0/24', '10.1.2.3', '2001:db8::/32', '::1']);
  t.true(allows(list, '192.168.10.77'));
  t.true(allows(list, '::ffff:192.168.10.77'));
  t.false(allows(list, '192.168.11.1'));
  t.true(allows(list, '10.1.2.3'));
  t.false(allows(list, '10.1.2.4'));
  t.true(allows(list, '2001:db8:1::5'));
  t.true(allows(list, '::1'));
  t.false(allows(list, 'fe80::1'));
  t.false(allows(list, 'not an address'));
});

test('config: the receiver is off by default; AE titles and peers are validated', (t) => {
  const defaults = configSchema.parse({}).dicom.receiver;
  t.like(defaults, { enabled: false, aeTitle: 'CSPINE_EDGE', port: 11112, allowedCallingAeTitles: [], allowedPeers: [] });
  t.is(configSchema.parse({ dicom: { receiver: { aeTitle: '  PACS1 ' } } }).dicom.receiver.aeTitle, 'PACS1');
  for (const bad of [{ aeTitle: 'A_TITLE_LONGER_THAN_16' }, { aeTitle: 'BACK\\SLASH' }, { aeTitle: '   ' }, { allowedPeers: ['10.0.0.0/33'] }, { allowedPeers: ['modality.local'] }, { port: 0 }]) {
    t.false(configSchema.safeParse({ dicom: { receiver: bad } }).success, JSON.stringify(bad));
  }
});
