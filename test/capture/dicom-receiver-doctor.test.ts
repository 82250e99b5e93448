import net from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { configSchema } from '../../src/config/schema.js';
import { DicomReceiver } from '../../src/capture/dicom-receiver/receiver.js';
import { Pseudonymizer } from '../../src/privacy/pseudonymizer.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { capturedLogger, configEnv, tempDir, workspace } from '../helpers/fixtures.js';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function doctorCheck(env: NodeJS.ProcessEnv) {
  const run = await runCli(['doctor', '--json'], env);
  const check = jsonLines(run.stdout).find((line) => line.name === 'dicom receiver');
  return { run, check: check as { status: string; detail: string } | undefined };
}

function receiverEnv(t: ExecutionContext, port: number, extra: NodeJS.ProcessEnv = {}) {
  const { root, config } = workspace(t);
  return {
    root,
    config,
    env: {
      ...configEnv(config),
      CSPINE_SYNC__SITE_SECRET_FILE: path.join(root, 'data/site-secret'),
      CSPINE_DICOM__RECEIVER__ENABLED: 'true',
      CSPINE_DICOM__RECEIVER__PORT: String(port),
      CSPINE_DICOM__RECEIVER__AE_TITLE: 'EDGE_DOCTOR',
      ...extra,
    },
  };
}

test('doctor: the receiver is off by default', async (t) => {
  const { config } = workspace(t);
  const { check } = await doctorCheck(configEnv(config));
  t.deepEqual(check, { name: 'dicom receiver', status: 'ok', detail: 'off (dicom.receiver.enabled: false)' } as never);
});

async function runReceiver(t: ExecutionContext, port: number, allowedCallingAeTitles: string[] = []) {
  const root = tempDir(t);
  const config = configSchema.parse({
    capture: { dir: path.join(root, 'capture') },
    store: { path: path.join(root, 'data/db') },
    dicom: { receiver: { enabled: true, port, aeTitle: 'EDGE_DOCTOR', host: '127.0.0.1', allowedCallingAeTitles } },
  });
  const receiver = new DicomReceiver(config, capturedLogger().logger, new Pseudonymizer(Buffer.alloc(32, 3)));
  t.teardown(() => receiver.stop());
  await receiver.start();
  t.like(receiver.state, { state: 'listening', port });
}

test('doctor: listening on port P as AE X, answered by C-ECHO; an open allowlist is a warning', async (t) => {
  const port = await freePort();
  await runReceiver(t, port);
  const { env } = receiverEnv(t, port);
  const open = await doctorCheck(env);
  t.is(open.check?.status, 'warn', open.run.stdout);
  t.regex(open.check!.detail, new RegExp(`^listening on port ${port} as AE EDGE_DOCTOR; C-ECHO answered in \\d+ ms; calling AEs any; peers any \\(anyone on the network may store`));

  const wrongAe = await doctorCheck({ ...env, CSPINE_DICOM__RECEIVER__AE_TITLE: 'OTHER_AE' });
  t.is(wrongAe.check?.status, 'fail');
  t.regex(wrongAe.check!.detail, /answers DICOM but not as AE OTHER_AE/);
  t.is(wrongAe.run.code, 1);
});

test('doctor: a receiver that refuses the doctor by its allowlist still counts as listening', async (t) => {
  const port = await freePort();
  await runReceiver(t, port, ['MODALITY1']);
  const { env } = receiverEnv(t, port, { CSPINE_DICOM__RECEIVER__ALLOWED_CALLING_AE_TITLES: '["MODALITY1"]' });
  const fenced = await doctorCheck(env);
  t.is(fenced.check?.status, 'ok', fenced.run.stdout);
  t.regex(fenced.check!.detail, new RegExp(`^listening on port ${port} as AE EDGE_DOCTOR; it refused the doctor's own association \\(result 1, source 1, reason 3\\), as its allowlist says; calling AEs MODALITY1; peers any$`));
});

test('doctor: failed to bind, with the reason and its code', async (t) => {
  // Something else holds the port and does not speak DICOM.
  const blocker = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as net.AddressInfo).port;
  const { env, config } = receiverEnv(t, port, { CSPINE_DICOM__RECEIVER__HOST: '127.0.0.1' });

  const before = await doctorCheck(env);
  t.is(before.check?.status, 'fail');
  t.regex(before.check!.detail, new RegExp(`port ${port} accepts connections but did not answer as a DICOM receiver`));

  // The service's receiver could not bind: doctor reports what it recorded.
  const parsed = configSchema.parse({ ...config, dicom: { receiver: { enabled: true, port, host: '127.0.0.1', aeTitle: 'EDGE_DOCTOR', bindRetryMs: 60_000 } } });
  const receiver = new DicomReceiver(parsed, capturedLogger().logger, new Pseudonymizer(Buffer.alloc(32, 3)));
  t.teardown(() => receiver.stop());
  await receiver.start();
  t.like(receiver.state, { state: 'failed', code: 'E_DICOM_RECEIVER_PORT_IN_USE' });
  await new Promise((resolve) => blocker.close(resolve));
  const after = await doctorCheck(env);
  t.is(after.check?.status, 'fail');
  t.regex(after.check!.detail, new RegExp(`^failed to bind: E_DICOM_RECEIVER_PORT_IN_USE: port ${port} on 127\\.0\\.0\\.1 is already in use`));
});

test('doctor: enabled but nothing listening and nothing recorded is a warning', async (t) => {
  const port = await freePort();
  const { env } = receiverEnv(t, port);
  const { check, run } = await doctorCheck(env);
  t.is(check?.status, 'warn', run.stdout);
  t.regex(check!.detail, new RegExp(`not listening on port ${port} \\(the service is not running\\?\\); the port is free to bind`));
});
