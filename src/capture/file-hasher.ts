import type { Worker } from 'node:worker_threads';
import { startWorker } from '../runtime/worker-thread.js';
import type { FileVersion } from './intake.js';

export interface HashRequest {
  call: number;
  file: string;
  version: FileVersion;
}

export type HashReply = { call: number; sha256: string } | { call: number; changed: true } | { call: number; message: string; code?: string | undefined };

/** The file is no longer the version that was read: it is still being written. */
export const CHANGED = 'changed';

/**
 * SHA-256 of captured files, computed in a thread of its own (file-hasher-worker.ts) while the
 * main thread decodes the copy it read. Hashing a 10 MB DICOM takes about 6 ms on this
 * project's x86 machines, and several times that on a Pi 4, whose cores lack the ARMv8 SHA
 * instructions. The thread reads the file again, from the page cache, rather than being sent
 * the bytes: copying 10 MB into a new buffer costs the main thread as much as hashing them.
 * It checks before and after that the file is still the version the caller read.
 */
export class FileHasher {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (sha256: string) => void; reject: (error: Error) => void }>();
  private calls = 0;

  /** The hash, or CHANGED when the file's size or mtime is no longer `version`'s. Rejects with the fs error's code (ENOENT: gone). */
  hash(file: string, version: FileVersion): Promise<string> {
    const worker = this.thread();
    const call = ++this.calls;
    return new Promise((resolve, reject) => {
      this.pending.set(call, { resolve, reject });
      worker.postMessage({ call, file, version } satisfies HashRequest);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  /** Started at the first file; started again after a failure. */
  private thread(): Worker {
    if (this.worker) return this.worker;
    // A small heap: the thread holds one 1 MiB read buffer and a hash state.
    const worker = startWorker('file-hasher-worker', import.meta.url, { resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 } });
    worker.unref();
    worker.on('message', (reply: HashReply) => {
      const waiting = this.pending.get(reply.call);
      this.pending.delete(reply.call);
      if ('sha256' in reply) waiting?.resolve(reply.sha256);
      else if ('changed' in reply) waiting?.resolve(CHANGED);
      else waiting?.reject(Object.assign(new Error(reply.message), { code: reply.code }));
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the file hashing thread ended (exit ${code})`)));
    this.worker = worker;
    return worker;
  }
}
