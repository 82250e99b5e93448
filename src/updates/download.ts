import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '../backoff.js';
import { CspineError, ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { syncFolder } from './sync-folder.js';

export interface DownloadSettings {
  /** Bytes asked for per Range request. */
  chunkBytes: number;
  /** No byte for this long: the connection is dropped and the download resumes. */
  stallTimeoutMs: number;
  retryMinMs: number;
  retryMaxMs: number;
}

export interface DownloadRequest {
  url: URL;
  /** Sent as `Authorization: Bearer <token>`; never logged. */
  token: string;
  /** Where the finished file goes; `<file>.part` holds it meanwhile. */
  file: string;
  /** Expected SHA-256; absent for a file checked otherwise (manifest.sig, verified as a signature). */
  sha256?: string;
  /** A server announcing a larger file is refused (E_UPDATE_TOO_LARGE) before its bytes are taken. */
  maxBytes: number;
  settings: DownloadSettings;
  signal: AbortSignal;
  logger: Logger;
  /** Bytes of this file on disk, and its size once the server has said it. */
  onBytes?: (done: number, total: number | undefined) => void;
}

/** A chunk that could not be taken whole; what arrived of it is on disk and the next request resumes after it. */
class Interrupted extends Error {}

/**
 * Fetches one file with HTTP Range requests of `chunkBytes`, appending to `<file>.part` (fsync
 * after each) and hashing as it goes. A broken connection, a stall or a server error resumes
 * from the bytes on disk after a back-off, never from zero; a `.part` left by an earlier run is
 * re-hashed and continued. A finished file with the wrong SHA-256 is deleted and fetched once
 * more, then E_UPDATE_FILE_HASH_MISMATCH. `signal` ends it at once (the `.part` stays).
 */
export async function downloadFile(request: DownloadRequest): Promise<void> {
  const { file, sha256 } = request;
  const part = `${file}.part`;
  if (sha256 === undefined) {
    // Small and without a hash to resume against: always fetched whole.
    fs.rmSync(file, { force: true });
    fs.rmSync(part, { force: true });
  } else if (fs.existsSync(file)) {
    if ((await hashOf(file)).digest('hex') === sha256) return;
    fs.rmSync(file);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const digest = await fetchToPart(request, part);
    if (sha256 === undefined || digest === sha256) break;
    fs.rmSync(part);
    const problem = `${request.url.pathname} arrived with SHA-256 ${digest}, but the signed manifest says ${sha256}`;
    if (attempt === 2) throw new CspineError(ErrorCode.UPDATE_FILE_HASH_MISMATCH, `${problem} (twice); the package is not used`);
    request.logger.warn({ code: ErrorCode.UPDATE_FILE_HASH_MISMATCH }, `${problem}; fetching it again`);
  }
  fs.renameSync(part, file);
  syncFolder(path.dirname(file));
}

/** Fills `part` to the server's full size; returns the SHA-256 of all of it. */
async function fetchToPart(request: DownloadRequest, part: string): Promise<string> {
  const { settings, signal } = request;
  const hash = await hashOf(part);
  let done = fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0;
  let total: number | undefined;
  let failures = 0;
  const handle = await fs.promises.open(part, 'a');
  try {
    while (total === undefined || done < total) {
      signal.throwIfAborted();
      const before = done;
      try {
        total = await fetchChunk(request, handle, done, hash, (bytes) => (done += bytes));
      } catch (error) {
        if (error instanceof CspineError || signal.aborted) throw error;
        if (done > before) failures = 0;
        const delay = backoffDelay(failures++, settings.retryMinMs, settings.retryMaxMs);
        request.logger.warn({ url: request.url.pathname, bytesDone: done, retryInMs: delay, err: (error as Error).message }, 'package download interrupted; resuming from the bytes on disk');
        await sleep(delay, undefined, { signal });
        continue;
      } finally {
        await handle.sync();
      }
      failures = 0;
      request.onBytes?.(done, total);
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/**
 * One Range request from `offset`: its body appended to `handle` and `hash` as it arrives,
 * `took` told of each piece. Returns the file's full size.
 */
async function fetchChunk(request: DownloadRequest, handle: fs.promises.FileHandle, offset: number, hash: crypto.Hash, took: (bytes: number) => void): Promise<number> {
  const { url, settings } = request;
  const last = offset + settings.chunkBytes - 1;
  const response = await get(request, { Range: `bytes=${offset}-${last}` });
  const status = response.statusCode ?? 0;
  const range = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+)$/.exec(response.headers['content-range'] ?? '');
  if (status === 416 && range && Number(range[3]) === offset) {
    // Everything is on disk already (a run that ended after the last chunk, before the rename).
    response.resume();
    return offset;
  }
  if (status !== 206 || range?.[1] === undefined || Number(range[1]) !== offset) {
    response.resume();
    throw refusalOrRetry(url, status, `answered ${status} ${response.statusMessage ?? ''} to bytes=${offset}-${last}${range ? ` (${range[0]})` : ''}`);
  }
  const total = Number(range[3]);
  const expected = Number(range[2]) - offset + 1;
  if (total > request.maxBytes) {
    response.destroy();
    throw new CspineError(ErrorCode.UPDATE_TOO_LARGE, `${url.pathname} is ${total} bytes, more than the ${request.maxBytes} allowed for it`);
  }
  let received = 0;
  for await (const piece of response as AsyncIterable<Buffer>) {
    if (received + piece.length > expected) throw new Interrupted(`${url.pathname}: the server sent more than the ${expected} bytes it announced`);
    await write(handle, piece, request.file);
    hash.update(piece);
    received += piece.length;
    took(piece.length);
  }
  if (received < expected) throw new Interrupted(`${url.pathname}: the connection ended after ${received} of ${expected} bytes`);
  return total;
}

/** A GET with the bearer token whose connection is dropped when no byte comes for `stallTimeoutMs`. */
function get(request: DownloadRequest, headers: Record<string, string>): Promise<http.IncomingMessage> {
  const { url, settings, signal } = request;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = client.get(url, { headers: { ...headers, Authorization: `Bearer ${request.token}` }, signal }, resolve);
    outgoing.setTimeout(settings.stallTimeoutMs, () => outgoing.destroy(new Interrupted(`${url.pathname}: no byte for ${settings.stallTimeoutMs} ms`)));
    outgoing.on('error', reject);
  });
}

/** Server errors and rate limits pass; any other answer is final. */
function refusalOrRetry(url: URL, status: number, what: string): Error {
  const message = `GET ${url.origin}${url.pathname} ${what}`;
  if (status >= 500 || status === 408 || status === 429) return new Interrupted(message);
  return new CspineError(ErrorCode.UPDATE_DOWNLOAD_FAILED, message, { details: { status } });
}

/** A disk that cannot take the bytes ends the download: retrying would not help. */
async function write(handle: fs.promises.FileHandle, piece: Buffer, file: string): Promise<void> {
  try {
    await handle.write(piece);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CspineError(code === 'ENOSPC' ? ErrorCode.UPDATE_NO_SPACE : ErrorCode.UPDATE_DOWNLOAD_FAILED, `cannot write ${file}.part (${code ?? (error as Error).message})`, { cause: error });
  }
}

/** A SHA-256 fed with the file's bytes so far (none when it does not exist). */
async function hashOf(file: string): Promise<crypto.Hash> {
  const hash = crypto.createHash('sha256');
  if (!fs.existsSync(file)) return hash;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash;
}
