import type { Worker } from 'node:worker_threads';
import type ort from 'onnxruntime-node';
import { startWorker } from '../runtime/worker-thread.js';

/** A float32 tensor as it crosses between threads. */
export interface SessionTensor {
  type: string;
  dims: number[];
  data: Float32Array;
}

export type HostRequest =
  | { op: 'create'; call: number; session: number; source: string | Uint8Array; options: ort.InferenceSession.SessionOptions }
  | { op: 'run'; call: number; session: number; feeds: Record<string, { data: Float32Array; dims: number[] }>; fetches: string[] }
  | { op: 'release'; call: number; session: number };

/** A request before the host numbers it. */
type HostCall = HostRequest extends infer Request ? (Request extends HostRequest ? Omit<Request, 'call'> : never) : never;

export type HostReply =
  | { call: number; ok: true; names?: { inputs: string[]; outputs: string[] }; outputs?: Record<string, SessionTensor>; inputs?: Record<string, ArrayBuffer> }
  | { call: number; ok: false; message: string };

/**
 * ONNX Runtime sessions in a thread of their own (src/model/session-worker.ts), so that creating
 * one (seconds for a large model: parsing, graph optimisation, weight packing) or running one
 * never holds up the main thread, where images are read, lamps lit and MQTT kept alive. A new
 * model can thus be loaded and tested beside the one in service while images go on.
 */
export class SessionHost {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (reply: HostReply & { ok: true }) => void; reject: (error: Error) => void }>();
  private calls = 0;
  private sessions = 0;
  private failure: Error | undefined;

  constructor() {
    this.worker = startWorker('session-worker', import.meta.url);
    this.worker.on('message', (reply: HostReply) => {
      const waiting = this.pending.get(reply.call);
      this.pending.delete(reply.call);
      if (reply.ok) waiting?.resolve(reply);
      else waiting?.reject(new Error(reply.message));
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the ONNX Runtime thread ended (exit ${code})`)));
  }

  async create(source: string | Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<HostedSession> {
    const session = ++this.sessions;
    const reply = await this.call({ op: 'create', session, source, options });
    return new HostedSession(this, session, reply.names!.inputs, reply.names!.outputs);
  }

  /** Ends the thread and every session in it. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }

  call(request: HostCall, transfer: ArrayBuffer[] = []): Promise<HostReply & { ok: true }> {
    if (this.failure) return Promise.reject(this.failure);
    const call = ++this.calls;
    return new Promise((resolve, reject) => {
      this.pending.set(call, { resolve, reject });
      this.worker.postMessage({ ...request, call }, transfer);
    });
  }
}

/** One session in a {@link SessionHost}: the part of ort.InferenceSession the engine uses. */
export class HostedSession {
  /**
   * One buffer per input, moved to the thread with each run and back with its reply. A copy
   * made per run would be garbage in the thread, whose small heap seldom collects: 26 MB of dead
   * inputs were held there after 100 images (docs/benchmarks-memory.md).
   */
  private readonly staging = new Map<string, ArrayBuffer>();

  constructor(
    private readonly host: SessionHost,
    private readonly id: number,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  /** The inputs are copied to the thread (the caller keeps its arrays); the outputs are moved back. */
  async run(feeds: Record<string, { data: Float32Array; dims: readonly number[] }>, fetches: readonly string[] = this.outputNames): Promise<Record<string, SessionTensor>> {
    const staged: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const [name, { data, dims }] of Object.entries(feeds)) {
      // Taken out while it is away: a run started meanwhile stages its own.
      const kept = this.staging.get(name);
      this.staging.delete(name);
      const buffer = kept?.byteLength === data.byteLength ? kept : new ArrayBuffer(data.byteLength);
      const copy = new Float32Array(buffer);
      copy.set(data);
      staged[name] = { data: copy, dims: [...dims] };
    }
    const reply = await this.host.call(
      { op: 'run', session: this.id, feeds: staged, fetches: [...fetches] },
      Object.values(staged).map(({ data }) => data.buffer as ArrayBuffer),
    );
    for (const [name, buffer] of Object.entries(reply.inputs ?? {})) this.staging.set(name, buffer);
    return reply.outputs!;
  }

  async release(): Promise<void> {
    await this.host.call({ op: 'release', session: this.id });
  }
}
