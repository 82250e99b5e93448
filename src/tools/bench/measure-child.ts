/**
 * One `model bench` measurement in a process of its own: loads one package variant as the
 * service does (manifest, SHA-256, OOD statistics), times it (bench.ts) and prints one JSON line
 * with the process's peak resident memory. Run by compare.ts; a process per package, so one
 * package's memory never shows in another's figure.
 *
 *   node measure-child.js MODEL_DIR VARIANT|- RUNS WARMUP THREADS
 */
import fs from 'node:fs';
import { loadModelPackage } from '../../model/model-package.js';
import { measureLatency, processMemory } from './bench.js';

/** The peak RSS of this process alone; getrusage's where there is no /proc. */
function peakRssBytes(): number {
  return (processMemory()?.hwmKiB ?? process.resourceUsage().maxRSS) * 1024;
}

const [dir, variant, runs, warmup, threads] = process.argv.slice(2);
try {
  const pkg = await loadModelPackage(dir!, variant === '-' ? undefined : variant);
  const { manifest } = pkg;
  const latency = await measureLatency(pkg.onnxPath, { inputName: manifest.input.name, shape: manifest.input.shape, runs: Number(runs), warmup: Number(warmup), threads: Number(threads) });
  process.stdout.write(`${JSON.stringify({ ok: true, variant: pkg.variant, file: manifest.file, bytes: fs.statSync(pkg.onnxPath).size, ...latency, peakRssBytes: peakRssBytes() })}\n`);
} catch (error) {
  const { code, message } = error as { code?: string; message: string };
  process.stdout.write(`${JSON.stringify({ ok: false, code, message })}\n`);
  process.exitCode = 1;
}
