import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CspineError } from '../../src/errors.js';
import { sha256Hex } from '../../src/hash.js';
import { downloadFile, type DownloadRequest } from '../../src/updates/download.js';
import { capturedLogger, tempDir, waitFor } from '../helpers/fixtures.js';
import { startUpdateServer, type UpdateServer } from '../helpers/update-server.js';

const SHA = 'a'.repeat(64);
const CHUNK = 64 * 1024;
const FILE_BYTES = 1024 * 1024 + 12_345;

async function setup(t: import('ava').ExecutionContext) {
  const server = await startUpdateServer(t);
  const bytes = crypto.randomBytes(FILE_BYTES);
  server.addFile(SHA, 'model.onnx', bytes);
  const dir = tempDir(t);
  const log = capturedLogger();
  const request = (overrides: Partial<DownloadRequest> = {}): DownloadRequest => ({
    url: new URL(`/updates/${SHA}/model.onnx`, server.url),
    token: server.token,
    file: path.join(dir, 'model.onnx'),
    sha256: sha256Hex(bytes),
    maxBytes: 10 * FILE_BYTES,
    settings: { chunkBytes: CHUNK, stallTimeoutMs: 5_000, retryMinMs: 10, retryMaxMs: 50 },
    signal: new AbortController().signal,
    logger: log.logger,
    ...overrides,
  });
  return { server, bytes, dir, log, request };
}

const sent = (server: UpdateServer) => server.bytesSent.get(`${SHA}/model.onnx`) ?? 0;

test('a connection dropped mid-file three times resumes from the bytes on disk: the file completes, about its size sent in all', async (t) => {
  const { server, bytes, request, log } = await setup(t);
  server.faults.push({ file: 'model.onnx', times: 3, kind: 'drop' });
  const progress: number[] = [];
  await downloadFile(request({ onBytes: (done) => progress.push(done) }));
  const file = request().file;
  t.true(fs.readFileSync(file).equals(bytes));
  t.false(fs.existsSync(`${file}.part`));
  t.true(sent(server) >= FILE_BYTES && sent(server) <= FILE_BYTES + 3 * CHUNK, `sent ${sent(server)} bytes for a ${FILE_BYTES}-byte file: resumed, never restarted`);
  const starts = server.requests.map(({ range }) => Number(/^bytes=(\d+)-/.exec(range ?? '')?.[1]));
  t.is(starts.filter((start) => start === 0).length, 1, 'never asked for the start again');
  t.true(starts.some((start) => start % CHUNK !== 0), 'resumed inside a chunk, after the bytes that had arrived');
  t.is(log.lines.filter((line) => String(line.msg).includes('resuming from the bytes on disk')).length, 3);
  t.deepEqual([...progress].sort((a, b) => a - b), progress, 'progress only grows');
  t.is(progress.at(-1), FILE_BYTES);
});

test('a stalled server: the connection is dropped after stallTimeoutMs and the download resumes', async (t) => {
  const { server, bytes, request } = await setup(t);
  server.faults.push({ file: 'model.onnx', times: 1, kind: 'stall' });
  const started = Date.now();
  await downloadFile(request({ settings: { chunkBytes: CHUNK, stallTimeoutMs: 300, retryMinMs: 10, retryMaxMs: 50 } }));
  t.true(Date.now() - started >= 300);
  t.true(fs.readFileSync(request().file).equals(bytes));
  t.true(sent(server) <= FILE_BYTES + CHUNK);
});

test('a .part left by an earlier run is re-hashed and continued, not fetched again', async (t) => {
  const { server, bytes, request } = await setup(t);
  const file = request().file;
  fs.writeFileSync(`${file}.part`, bytes.subarray(0, 300_000));
  await downloadFile(request());
  t.true(fs.readFileSync(file).equals(bytes));
  t.is(sent(server), FILE_BYTES - 300_000);
  t.is(server.requests[0]!.range, `bytes=300000-${300_000 + CHUNK - 1}`);
});

test('a finished file with the wrong SHA-256 is fetched once more; wrong again, E_UPDATE_FILE_HASH_MISMATCH and nothing kept', async (t) => {
  const once = await setup(t);
  once.server.faults.push({ file: 'model.onnx', times: 1, kind: 'corrupt' });
  await downloadFile(once.request());
  t.true(fs.readFileSync(once.request().file).equals(once.bytes), 'the second fetch was right');
  t.is(sent(once.server), 2 * FILE_BYTES);

  const always = await setup(t);
  always.server.faults.push({ file: 'model.onnx', times: 99, kind: 'corrupt' });
  const error = await t.throwsAsync(downloadFile(always.request()), { instanceOf: CspineError });
  t.is(error.code, 'E_UPDATE_FILE_HASH_MISMATCH');
  t.is(sent(always.server), 2 * FILE_BYTES, 'fetched exactly twice');
  t.deepEqual(fs.readdirSync(always.dir), []);
});

test('401 and 404 end the download at once with E_UPDATE_DOWNLOAD_FAILED and the status', async (t) => {
  const { server, request } = await setup(t);
  const unauthorised = await t.throwsAsync(downloadFile(request({ token: 'wrong-token-wrong-token-wrong-token' })), { instanceOf: CspineError });
  t.is(unauthorised.code, 'E_UPDATE_DOWNLOAD_FAILED');
  t.is(unauthorised.details?.status, 401);
  const missing = await t.throwsAsync(downloadFile(request({ url: new URL(`/updates/${SHA}/other.onnx`, server.url) })), { instanceOf: CspineError });
  t.is(missing.details?.status, 404);
  t.regex(missing.message, /answered 404/);
  t.false(missing.message.includes(server.token), 'the token is never in a message');
  t.is(server.requests.length, 2, 'no retry');
});

test('a file larger than allowed is refused before its bytes are taken', async (t) => {
  const { server, request } = await setup(t);
  const error = await t.throwsAsync(downloadFile(request({ maxBytes: 1000 })), { instanceOf: CspineError });
  t.is(error.code, 'E_UPDATE_TOO_LARGE');
  t.true(sent(server) <= CHUNK);
});

test('abort ends it at once, even while it waits to retry, and keeps the .part to resume', async (t) => {
  const { server, request } = await setup(t);
  server.faults.push({ file: 'model.onnx', times: 99, kind: 'drop' });
  const abort = new AbortController();
  const download = downloadFile(request({ signal: abort.signal, settings: { chunkBytes: CHUNK, stallTimeoutMs: 5_000, retryMinMs: 60_000, retryMaxMs: 60_000 } }));
  const part = `${request().file}.part`;
  // Until the first connection has dropped with bytes on disk: then it waits a minute to retry.
  await waitFor(() => server.requests.length > 0 && (fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0) > 0, 10_000, 'bytes on disk');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const started = Date.now();
  abort.abort();
  await t.throwsAsync(download, { name: 'AbortError' });
  t.true(Date.now() - started < 1000);
  t.true(fs.statSync(part).size > 0);
});
