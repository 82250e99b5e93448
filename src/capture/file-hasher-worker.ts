/** The thread of {@link FileHasher}: reads a captured file in 1 MiB pieces and hashes it. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { HashReply, HashRequest } from './file-hasher.js';
import { sameVersion } from './intake.js';

const PIECE = 1 << 20;
const piece = Buffer.allocUnsafe(PIECE);

function answer({ call, file, version }: HashRequest): HashReply {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    if (!sameVersion(fs.fstatSync(fd), version)) return { call, changed: true };
    const hash = crypto.createHash('sha256');
    let position = 0;
    for (let read = fs.readSync(fd, piece, 0, PIECE, position); read > 0; read = fs.readSync(fd, piece, 0, PIECE, position)) {
      hash.update(piece.subarray(0, read));
      position += read;
    }
    if (position !== version.size || !sameVersion(fs.fstatSync(fd), version)) return { call, changed: true };
    return { call, sha256: hash.digest('hex') };
  } catch (error) {
    return { call, message: (error as Error).message, code: (error as NodeJS.ErrnoException).code };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

parentPort!.on('message', (request: HashRequest) => parentPort!.postMessage(answer(request)));
