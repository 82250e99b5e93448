/** Latency of one ONNX file in ONNX Runtime, as the service runs it (`model bench`, `npm run bench:model`). */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { sessionOptions } from '../../model/inference.js';

export interface LatencyOptions {
  inputName: string;
  /** Batch-1 input shape. */
  shape: readonly number[];
  runs: number;
  warmup: number;
  threads: number;
}

export interface ProcessMemory {
  rssKiB: number;
  /**
   * VmHWM: the process's own peak. Not getrusage's maxrss, which on Linux also counts what a
   * child had mapped of its parent between fork and exec.
   */
  hwmKiB: number;
}

/** A process's resident memory now and at its peak, from /proc; undefined once it has exited. */
export function processMemory(pid: number | 'self' = 'self'): ProcessMemory | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

export interface Latency {
  loadMs: number;
  runs: number;
  medianMs: number;
  p95Ms: number;
  meanMs: number;
}

/** Linear interpolation between ranks. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const low = sorted[Math.floor(position)]!;
  const high = sorted[Math.ceil(position)]!;
  return low + (high - low) * (position - Math.floor(position));
}

/** A fixed pseudo-random input (an all-zero image would let ReLUs and the CAM take easy paths). */
export function benchInput(size: number, seed = 1): Float32Array {
  const values = new Float32Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    values[i] = ((state >>> 0) / 4294967296) * 4 - 2;
  }
  return values;
}

export async function measureLatency(file: string | Uint8Array, options: LatencyOptions): Promise<Latency> {
  const started = performance.now();
  const session = await ort.InferenceSession.create(file as string, sessionOptions(options.threads));
  const loadMs = performance.now() - started;
  try {
    const size = options.shape.reduce((a, b) => a * b, 1);
    const feeds = { [options.inputName]: new ort.Tensor('float32', benchInput(size), [...options.shape]) };
    for (let i = 0; i < options.warmup; i++) await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      const t = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t);
    }
    return { loadMs, runs: times.length, medianMs: quantile(times, 0.5), p95Ms: quantile(times, 0.95), meanMs: times.reduce((a, b) => a + b, 0) / times.length };
  } finally {
    await session.release();
  }
}
