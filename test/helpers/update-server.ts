/**
 * A stand-in for the dashboard's package endpoint (docs/model-updates.md): GET
 * /updates/<manifestSha256>/<file> with a bearer token, Range requests answered with 206, and
 * faults to inject (a connection dropped mid-file, a stall, a corrupted byte). It records every
 * request and the body bytes it sent per file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { sha256Hex } from '../../src/hash.js';
import { MANIFEST_FILE, packageFiles } from '../../src/model/manifest.js';
import { SIGNATURE_FILE } from '../../src/model/signature.js';
import type { ModelCommand } from '../../src/updates/command.js';

export interface Fault {
  /** Answers to requests for this file only: its name (in any package) or `<sha>/<name>`. */
  file: string;
  /** How many requests get it. */
  times: number;
  /** drop: the connection is cut after half the body; stall: half the body, then nothing; corrupt: one byte flipped. */
  kind: 'drop' | 'stall' | 'corrupt';
}

export interface UpdateServer {
  url: string;
  token: string;
  /** `<sha>/<file>` of each request, with its Range header and the status answered. */
  requests: Array<{ file: string; range: string | undefined; status: number }>;
  /** Body bytes written per `<sha>/<file>`. */
  bytesSent: Map<string, number>;
  faults: Fault[];
  /** Serves `dir` (manifest.json, manifest.sig when there is one, and every file it names that exists) under its manifest's SHA-256. */
  addPackage(dir: string): NonNullable<ModelCommand['package']>;
  /** Serves `bytes` as `<sha>/<file>`. */
  addFile(sha: string, file: string, bytes: Buffer): void;
  close(): Promise<void>;
}

export async function startUpdateServer(t: ExecutionContext): Promise<UpdateServer> {
  const files = new Map<string, Buffer>();
  const token = crypto.randomBytes(24).toString('base64url');
  const sockets = new Set<import('node:net').Socket>();
  const state: Pick<UpdateServer, 'requests' | 'bytesSent' | 'faults'> = { requests: [], bytesSent: new Map(), faults: [] };

  const server = http.createServer((request, response) => {
    const key = decodeURIComponent((request.url ?? '').replace(/^\/updates\//, ''));
    const answer = (status: number, headers: http.OutgoingHttpHeaders = {}, body?: Buffer) => {
      state.requests.push({ file: key, range: request.headers.range, status });
      response.writeHead(status, headers);
      if (body) state.bytesSent.set(key, (state.bytesSent.get(key) ?? 0) + body.length);
      response.end(body);
    };
    if (request.headers.authorization !== `Bearer ${token}`) return answer(401);
    const bytes = files.get(key);
    if (!request.url?.startsWith('/updates/') || !bytes) return answer(404);
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
    if (!range) return answer(200, { 'Content-Length': bytes.length }, bytes);
    const start = Number(range[1]);
    const end = Math.min(bytes.length - 1, range[2] ? Number(range[2]) : bytes.length - 1);
    if (start >= bytes.length) return answer(416, { 'Content-Range': `bytes */${bytes.length}` });
    let body = bytes.subarray(start, end + 1);
    const headers = { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, 'Content-Length': body.length };
    const fault = state.faults.find((candidate) => candidate.times > 0 && (key === candidate.file || key.endsWith(`/${candidate.file}`)));
    if (!fault || (fault.kind === 'corrupt' && end !== bytes.length - 1)) return answer(206, headers, body);
    fault.times--;
    if (fault.kind === 'corrupt') {
      body = Buffer.from(body);
      body[body.length - 1]! ^= 0xff;
      return answer(206, headers, body);
    }
    state.requests.push({ file: key, range: request.headers.range, status: 206 });
    response.writeHead(206, headers);
    const half = body.subarray(0, Math.floor(body.length / 2));
    state.bytesSent.set(key, (state.bytesSent.get(key) ?? 0) + half.length);
    response.write(half, () => {
      if (fault.kind === 'drop') response.socket?.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.teardown(close);

  const addFile = (sha: string, file: string, bytes: Buffer) => void files.set(`${sha}/${file}`, bytes);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    ...state,
    addFile,
    addPackage(dir) {
      const manifestBytes = fs.readFileSync(path.join(dir, MANIFEST_FILE));
      const sha = sha256Hex(manifestBytes);
      const manifest = JSON.parse(manifestBytes.toString('utf8')) as Parameters<typeof packageFiles>[0];
      addFile(sha, MANIFEST_FILE, manifestBytes);
      if (fs.existsSync(path.join(dir, SIGNATURE_FILE))) addFile(sha, SIGNATURE_FILE, fs.readFileSync(path.join(dir, SIGNATURE_FILE)));
      const listed = packageFiles(manifest)
        .filter(({ file }) => fs.existsSync(path.join(dir, file)))
        .map(({ file, sha256 }) => {
          const bytes = fs.readFileSync(path.join(dir, file));
          addFile(sha, file, bytes);
          return { name: file, sha256, bytes: bytes.length };
        });
      return { manifestSha256: sha, modelId: manifest.id, totalBytes: listed.reduce((sum, file) => sum + file.bytes, 0), files: listed };
    },
    close,
  };
}

/** The files a run asked for, by name, without the package prefix. */
export function requestedFiles(server: UpdateServer): string[] {
  return [...new Set(server.requests.map(({ file }) => file.slice(file.indexOf('/') + 1)))];
}
