/**
 * GET /updates/<manifestSha256>/<file> over real TCP, as a device downloads a package: the
 * bearer token of its install command, whole files and ranges that reassemble to the same
 * bytes, and every way to ask for something else refused.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { CommandQueue } from '../../src/dashboard/updates/command-queue.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { startDashboardWeb, upsertDevice, type RunningDashboard } from '../helpers/dashboard-fixtures.js';
import { writeSigningKeys, writeTestPackage, type KeyFiles, type TestPackage } from '../helpers/signed-packages.js';

let postgres: TemporaryPostgres;
let dashboard: RunningDashboard;
let root: string;
let key: KeyFiles;
let made: TestPackage;
let other: TestPackage;
/** Install tokens: for `made` (device amb-1), and for `other` (device amb-2). */
let token: string;
let otherToken: string;

const sha256 = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex');

test.before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-downloads-'));
  key = writeSigningKeys(root, 'fleet');
  postgres = await TemporaryPostgres.create();
  dashboard = await startDashboardWeb(postgres.url(), {}, undefined, { updates: { dir: path.join(root, 'store'), trustedKeys: [key.publicFile] } });
  made = writeTestPackage(root, key, { variantBytes: 3 * 1024 * 1024 + 17 });
  other = writeTestPackage(root, key, { id: 'other' });
  const { packages, rollouts } = dashboard.updates;
  await packages.add(made.dir, 'ada');
  await packages.add(other.dir, 'ada');
  for (const device of ['amb-1', 'amb-2', 'amb-3']) await upsertDevice(dashboard.database.pool, device);
  await rollouts.create({ package: made.manifestSha256, target: { devices: ['amb-1'] }, canary: ['amb-1'], createdBy: 'ada' });
  await rollouts.create({ package: other.manifestSha256, target: { devices: ['amb-2'] }, canary: ['amb-2'], createdBy: 'ada' });
  const tokens = new Map((await new CommandQueue(dashboard.database, 'test').claim(10)).map((claimed) => [claimed.deviceId, claimed.command.download!.token]));
  token = tokens.get('amb-1')!;
  otherToken = tokens.get('amb-2')!;
});

test.after.always(async () => {
  await dashboard?.stop();
  await postgres?.destroy();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

function download(file: string, headers: Record<string, string> = {}, method = 'GET', sha = made.manifestSha256): Promise<Response> {
  return fetch(`${dashboard.url}/updates/${sha}/${file}`, { method, headers: { Authorization: `Bearer ${token}`, ...headers } });
}

/** A request exactly as written: fetch() would resolve "../" before sending it. */
function rawGet(requestPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${dashboard.url}${requestPath}`, { headers: { Authorization: `Bearer ${token}` } }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
  });
}

test('a whole file: 200 with its length, ETag = its SHA-256, and the same bytes', async (t) => {
  const response = await download('model-fp32.onnx');
  t.is(response.status, 200);
  t.is(response.headers.get('content-length'), String(made.variant.length));
  t.is(response.headers.get('etag'), `"${sha256(made.variant)}"`);
  t.is(response.headers.get('accept-ranges'), 'bytes');
  t.is(response.headers.get('content-type'), 'application/octet-stream');
  t.is(sha256(Buffer.from(await response.arrayBuffer())), sha256(made.variant));
});

test('ranges: bytes=N-M chunks and a bytes=N- resume reassemble the same bytes (206 with Content-Range)', async (t) => {
  const size = made.variant.length;
  const chunk = 1024 * 1024;
  const parts: Buffer[] = [];
  // The first two chunks as bytes=N-M, then the connection "breaks" and the rest comes as bytes=N-.
  for (let start = 0; start < 2 * chunk; start += chunk) {
    const response = await download('model-fp32.onnx', { Range: `bytes=${start}-${start + chunk - 1}` });
    t.is(response.status, 206);
    t.is(response.headers.get('content-range'), `bytes ${start}-${start + chunk - 1}/${size}`);
    t.is(response.headers.get('content-length'), String(chunk));
    parts.push(Buffer.from(await response.arrayBuffer()));
  }
  const rest = await download('model-fp32.onnx', { Range: `bytes=${2 * chunk}-` });
  t.is(rest.status, 206);
  t.is(rest.headers.get('content-range'), `bytes ${2 * chunk}-${size - 1}/${size}`);
  t.is(rest.headers.get('etag'), `"${sha256(made.variant)}"`);
  parts.push(Buffer.from(await rest.arrayBuffer()));
  t.is(sha256(Buffer.concat(parts)), sha256(made.variant));

  const past = await download('model-fp32.onnx', { Range: `bytes=${size - 10}-${size + 1000}` });
  t.is(past.status, 206, 'an end past the file is cut to it');
  t.is((await past.arrayBuffer()).byteLength, 10);
});

test('a range starting at or past the end is 416 with the size; a malformed one gets the whole file', async (t) => {
  const size = made.variant.length;
  const response = await download('model-fp32.onnx', { Range: `bytes=${size}-` });
  t.is(response.status, 416);
  t.is(response.headers.get('content-range'), `bytes */${size}`);
  const malformed = await download('model-fp32.onnx', { Range: 'bytes=10-5' });
  t.is(malformed.status, 200);
  t.is(malformed.headers.get('content-length'), String(size));
  await malformed.arrayBuffer();
});

test('HEAD answers the headers without the body', async (t) => {
  const response = await download('model-fp32.onnx', {}, 'HEAD');
  t.is(response.status, 200);
  t.is(response.headers.get('content-length'), String(made.variant.length));
  t.is((await response.arrayBuffer()).byteLength, 0);
  const ranged = await download('model-fp32.onnx', { Range: 'bytes=5-9' }, 'HEAD');
  t.is(ranged.status, 206);
  t.is(ranged.headers.get('content-range'), `bytes 5-9/${made.variant.length}`);
});

test('manifest.json (ETag = the manifest SHA-256), manifest.sig and a file in a subfolder are served', async (t) => {
  const manifest = await download('manifest.json');
  t.is(manifest.status, 200);
  t.is(manifest.headers.get('etag'), `"${made.manifestSha256}"`);
  t.is(sha256(Buffer.from(await manifest.arrayBuffer())), made.manifestSha256);
  const signature = await download('manifest.sig');
  t.is(signature.status, 200);
  t.deepEqual(Buffer.from(await signature.arrayBuffer()), fs.readFileSync(path.join(made.dir, 'manifest.sig')));
  const reference = await download('reference/phantom-1.png');
  t.is(reference.status, 200);
  t.deepEqual(Buffer.from(await reference.arrayBuffer()), fs.readFileSync(path.join(made.dir, 'reference', 'phantom-1.png')));
});

test('no token, a wrong token, or the token of another package: 401', async (t) => {
  const none = await fetch(`${dashboard.url}/updates/${made.manifestSha256}/model.onnx`);
  t.is(none.status, 401);
  t.is(none.headers.get('www-authenticate'), 'Bearer realm="cspine-updates"');
  t.is((await download('model.onnx', { Authorization: `Bearer ${crypto.randomBytes(32).toString('base64url')}` })).status, 401);
  t.is((await download('model.onnx', { Authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` })).status, 401);
  t.is((await download('model.onnx', { Authorization: `Bearer ${otherToken}` })).status, 401, "another package's token");
  t.is((await download('model.onnx', { Authorization: `Bearer ${otherToken}` }, 'GET', other.manifestSha256)).status, 200, 'which opens its own package');
});

test('an unknown package, a file the package does not list and any path out of the folder: 404', async (t) => {
  t.is((await download('model.onnx', {}, 'GET', 'f'.repeat(64))).status, 404);
  t.is((await download('model.onnx', {}, 'GET', 'not-a-sha')).status, 404);
  t.is((await download('weights.bin')).status, 404);
  // A file that is in the folder but not in the package's list is not served either.
  fs.writeFileSync(path.join(root, 'store', made.manifestSha256, 'extra.onnx'), 'not listed');
  t.is((await download('extra.onnx')).status, 404);
  for (const attempt of [
    `/updates/${made.manifestSha256}/..%2F..%2F${path.basename(root)}%2Ffleet.key`,
    `/updates/${made.manifestSha256}/%2e%2e/%2e%2e/fleet.key`,
    `/updates/${made.manifestSha256}/reference/..%2Fmanifest.json`,
    `/updates/${made.manifestSha256}/%2Fetc%2Fpasswd`,
    `/updates/${made.manifestSha256}/../../../${path.basename(root)}/fleet.key`,
  ]) {
    const response = await rawGet(attempt);
    t.is(response.status, 404, attempt);
    t.false(response.body.includes('PRIVATE KEY'), attempt);
  }
  // A plain "../" is resolved by the URL parser: this asks for the other package, which this token does not open.
  t.is((await rawGet(`/updates/${made.manifestSha256}/../${other.manifestSha256}/manifest.json`)).status, 401);
});

test("a rolled-back rollout's tokens download nothing", async (t) => {
  const third = writeTestPackage(root, key, { id: 'third' });
  await dashboard.updates.packages.add(third.dir, 'ada');
  const rollout = await dashboard.updates.rollouts.create({ package: third.manifestSha256, target: { devices: ['amb-3'] }, canary: ['amb-3'], createdBy: 'ada' });
  const [claimed] = await new CommandQueue(dashboard.database, 'test').claim(10);
  const headers = { Authorization: `Bearer ${claimed!.command.download!.token}` };
  t.is((await download('manifest.json', headers, 'GET', third.manifestSha256)).status, 200);
  await dashboard.updates.rollouts.rollback(rollout.id, 'ada');
  t.is((await download('manifest.json', headers, 'GET', third.manifestSha256)).status, 401);
});
