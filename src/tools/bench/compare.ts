/**
 * `model bench` over several packages: each variant present is measured in a process of its own
 * (measure-child.ts: load time, batch-1 latency, peak RSS), optionally evaluated on labelled
 * images through the whole pipeline (tools/evaluate), and one row is recommended.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, ModelError, type ErrorCodeValue } from '../../errors.js';
import type { Metrics } from '../evaluate/metrics.js';

export interface ChildMeasurement {
  variant: string;
  file: string;
  bytes: number;
  loadMs: number;
  runs: number;
  medianMs: number;
  p95Ms: number;
  peakRssBytes: number;
}

export interface Accuracy {
  images: number;
  accuracy: number;
  /** Share of injured films (every label but normal) called an injury of either kind. */
  injurySensitivity: number;
}

export interface BenchRow extends ChildMeasurement {
  packageId: string;
  accuracy?: Accuracy;
}

export interface MeasureOptions {
  runs: number;
  warmup: number;
  threads: number;
}

/**
 * From dist the child is the .js beside this file; from src (tests, tsx) the .ts, which a new
 * process can only load with tsx's loader.
 */
function childCommand(): string[] {
  const self = fileURLToPath(import.meta.url);
  const fromSource = self.endsWith('.ts');
  return [...(fromSource ? ['--import', 'tsx'] : []), path.join(path.dirname(self), `measure-child${fromSource ? '.ts' : '.js'}`)];
}

/** One variant (undefined: the manifest's default) measured in a fresh Node process. */
export function measureInChild(modelDir: string, variant: string | undefined, options: MeasureOptions): Promise<ChildMeasurement> {
  const args = [...childCommand(), modelDir, variant ?? '-', String(options.runs), String(options.warmup), String(options.threads)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      let result: { ok: boolean; code?: string; message?: string } & ChildMeasurement;
      try {
        result = JSON.parse(line) as typeof result;
      } catch {
        reject(new ModelError(ErrorCode.MODEL_LOAD_FAILED, `the benchmark process for ${modelDir} exited with ${code} and no result: ${stderr.trim().slice(-500)}`));
        return;
      }
      if (!result.ok) {
        reject(new ModelError((result.code as ErrorCodeValue | undefined) ?? ErrorCode.MODEL_LOAD_FAILED, result.message ?? `the benchmark of ${modelDir} failed`));
        return;
      }
      const { ok: _ok, code: _code, message: _message, ...measurement } = result;
      resolve(measurement);
    });
  });
}

export function accuracyOf(metrics: Metrics, labels: readonly string[]): Accuracy {
  const injured = labels.flatMap((label, i) => (label === 'normal' ? [] : [i]));
  const rows = injured.map((i) => metrics.confusion[i]!);
  const total = rows.reduce((sum, row) => sum + row.reduce((a, b) => a + b, 0), 0);
  const called = rows.reduce((sum, row) => sum + injured.reduce((a, j) => a + row[j]!, 0), 0);
  return { images: metrics.count, accuracy: metrics.accuracy, injurySensitivity: total === 0 ? Number.NaN : called / total };
}

/** Medians within this share of the fastest count as equally fast, and memory decides. */
export const LATENCY_TIE = 0.1;

export interface Recommendation {
  row: BenchRow;
  /** Why, against the best of the others; empty with one row. */
  reason: string;
}

const pct = (v: number) => (Number.isNaN(v) ? 'n/a' : `${(v * 100).toFixed(2)}%`);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const label = (row: BenchRow) => `${row.packageId} (${row.variant})`;

/**
 * Accuracy first: only rows with the highest injury sensitivity on the data stay (a package
 * that misses more injuries is never recommended), then those with the highest accuracy; then
 * the fastest, counting medians within LATENCY_TIE of the fastest as equal; then the least
 * peak memory. Without accuracy figures only speed and memory decide.
 */
export function recommend(rows: readonly BenchRow[]): Recommendation {
  if (rows.length === 0) throw new Error('nothing to recommend');
  const best = (list: readonly BenchRow[], score: (row: BenchRow) => number) => Math.max(...list.map(score));
  const stages: Array<{ score: (row: BenchRow) => number; keep: (score: number, top: number) => boolean; why: (winner: BenchRow, other: BenchRow) => string }> = [
    {
      score: (row) => known(row.accuracy?.injurySensitivity),
      keep: (score, top) => score >= top,
      why: (w, o) => `higher injury sensitivity (${pct(w.accuracy!.injurySensitivity)} against ${pct(o.accuracy!.injurySensitivity)} for ${label(o)})`,
    },
    {
      score: (row) => known(row.accuracy?.accuracy),
      keep: (score, top) => score >= top,
      why: (w, o) => `the same injury sensitivity (${pct(w.accuracy!.injurySensitivity)}) and higher accuracy (${pct(w.accuracy!.accuracy)} against ${pct(o.accuracy!.accuracy)} for ${label(o)})`,
    },
    {
      score: (row) => -row.medianMs,
      keep: (score, top) => score >= top * (1 + LATENCY_TIE),
      why: (w, o) => `${accuracyTie(w)}faster (median ${w.medianMs.toFixed(1)} ms against ${o.medianMs.toFixed(1)} ms for ${label(o)})`,
    },
    {
      score: (row) => -row.peakRssBytes,
      keep: (score, top) => score >= top,
      why: (w, o) =>
        `${accuracyTie(w)}as fast within ${LATENCY_TIE * 100}% (median ${w.medianMs.toFixed(1)} against ${o.medianMs.toFixed(1)} ms) and less memory (peak ${mib(w.peakRssBytes)} against ${mib(o.peakRssBytes)} for ${label(o)})`,
    },
  ];
  let remaining = [...rows];
  // the stage that dropped the last rivals, and the best of them: what the winner beat last
  let decided: { stage: (typeof stages)[number]; rival: BenchRow } | undefined;
  for (const stage of stages) {
    const top = best(remaining, stage.score);
    const kept = remaining.filter((row) => stage.keep(stage.score(row), top));
    const dropped = remaining.filter((row) => !kept.includes(row));
    if (dropped.length > 0) decided = { stage, rival: dropped.reduce((a, b) => (stage.score(b) > stage.score(a) ? b : a)) };
    remaining = kept;
  }
  // rows equal on every count: the first given wins
  const [row, ...tied] = remaining as [BenchRow, ...BenchRow[]];
  const tie = tied.length > 0 ? `equal on every count to ${tied.map(label).join(', ')}, so the first given` : '';
  return { row, reason: [decided ? decided.stage.why(row, decided.rival) : '', tie].filter(Boolean).join('; ') };
}

/** A missing figure (no --data; no injured films in it) ranks below every real one. */
const known = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? -1 : value);

function accuracyTie(row: BenchRow): string {
  return row.accuracy ? `the same injury sensitivity (${pct(row.accuracy.injurySensitivity)}) and accuracy (${pct(row.accuracy.accuracy)}), ` : '';
}

/** The table of one package's rows under its title, plus the variants that are not here. */
export function packageTable(title: string, rows: readonly BenchRow[], missing: readonly string[], withAccuracy: boolean): string[] {
  return [
    title,
    `variant   file                  size      load ms   median ms   p95 ms   peak RSS${withAccuracy ? '   accuracy   injury sens.' : ''}`,
    ...rows.map(
      (r) =>
        `${r.variant.padEnd(10)}${path.basename(r.file).padEnd(22)}${`${(r.bytes / 1e6).toFixed(1)} MB`.padStart(8)}${r.loadMs.toFixed(0).padStart(10)}${r.medianMs.toFixed(1).padStart(12)}${r.p95Ms.toFixed(1).padStart(9)}${mib(r.peakRssBytes).padStart(11)}` +
        (withAccuracy && r.accuracy ? `${pct(r.accuracy.accuracy).padStart(11)}${pct(r.accuracy.injurySensitivity).padStart(15)}` : ''),
    ),
    ...missing.map((m) => `not here: ${m}`),
  ];
}

export function recommendationLine(recommendation: Recommendation, withAccuracy: boolean): string {
  const { row, reason } = recommendation;
  const setting = `model.id: ${row.packageId}${row.variant === 'default' ? '' : `, model.variant: ${row.variant}`}`;
  return [
    `run ${label(row)} here (${setting})${reason ? `: ${reason}` : ''}`,
    ...(withAccuracy ? [] : ['; chosen on speed and memory alone: give --data DIR (labelled images) so that accuracy and injury sensitivity come first']),
  ].join('');
}
