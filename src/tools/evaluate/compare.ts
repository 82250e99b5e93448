/** Two evaluations of the same images side by side (int8 against fp32): what quantization changed. */
import fs from 'node:fs';
import path from 'node:path';
import type { EvaluationReport } from './evaluate.js';
import type { Sample } from './metrics.js';

export interface EvaluationRun {
  variant: string;
  file: string;
  sha256: string;
  bytes: number;
  report: EvaluationReport;
  samples: Sample[];
}

export interface Comparison {
  schema: 'cspine.comparison.v1';
  data: { dir: string; images: number };
  candidate: { variant: string; file: string; sha256: string; bytes: number };
  reference: { variant: string; file: string; sha256: string; bytes: number };
  /** candidate bytes ÷ reference bytes */
  sizeRatio: number;
  /** Share of images where both give the same top-1 class. */
  top1Agreement: number;
  disagreements: number;
  accuracy: { candidate: number; reference: number; delta: number };
  /** Per class sensitivity (recall), candidate − reference, in points of proportion (0.01 = 1 pt). */
  sensitivity: Array<{ label: string; candidate: number; reference: number; delta: number }>;
  /** Largest |p_candidate − p_reference| over every class of every image, and its mean. */
  maxProbabilityDelta: number;
  meanProbabilityDelta: number;
  camLocalisation: { candidate: number | null; reference: number | null };
  medianMsPerImage: { candidate: number; reference: number };
}

const argmax = (values: readonly number[]) => values.reduce((best, v, i) => (v > values[best]! ? i : best), 0);

export function compareRuns(candidate: EvaluationRun, reference: EvaluationRun, labels: readonly string[]): Comparison {
  if (candidate.samples.length !== reference.samples.length) {
    throw new Error(`the two runs classified different numbers of images (${candidate.samples.length} vs ${reference.samples.length})`);
  }
  let same = 0;
  let maxDelta = 0;
  let sumDelta = 0;
  let count = 0;
  for (const [i, a] of candidate.samples.entries()) {
    const b = reference.samples[i]!;
    if (argmax(a.probabilities) === argmax(b.probabilities)) same++;
    for (let k = 0; k < a.probabilities.length; k++) {
      const d = Math.abs(a.probabilities[k]! - b.probabilities[k]!);
      maxDelta = Math.max(maxDelta, d);
      sumDelta += d;
      count++;
    }
  }
  const n = candidate.samples.length;
  const describe = (run: EvaluationRun) => ({ variant: run.variant, file: run.file, sha256: run.sha256, bytes: run.bytes });
  return {
    schema: 'cspine.comparison.v1',
    data: { dir: candidate.report.data.dir, images: n },
    candidate: describe(candidate),
    reference: describe(reference),
    sizeRatio: candidate.bytes / reference.bytes,
    top1Agreement: n === 0 ? 0 : same / n,
    disagreements: n - same,
    accuracy: { candidate: candidate.report.metrics.accuracy, reference: reference.report.metrics.accuracy, delta: candidate.report.metrics.accuracy - reference.report.metrics.accuracy },
    sensitivity: labels.map((label, c) => {
      const x = candidate.report.metrics.perClass[c]!.recall;
      const y = reference.report.metrics.perClass[c]!.recall;
      return { label, candidate: x, reference: y, delta: x - y };
    }),
    maxProbabilityDelta: maxDelta,
    meanProbabilityDelta: count === 0 ? 0 : sumDelta / count,
    camLocalisation: { candidate: candidate.report.camLocalisation?.share ?? null, reference: reference.report.camLocalisation?.share ?? null },
    medianMsPerImage: { candidate: candidate.report.medianMsPerImage, reference: reference.report.medianMsPerImage },
  };
}

const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(2)}%`);
const pts = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v * 100).toFixed(2)} pt`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export function comparisonMarkdown(c: Comparison): string {
  return [
    `# ${c.candidate.variant} against ${c.reference.variant}`,
    '',
    `Data \`${c.data.dir}\`, ${c.data.images} images. ${c.candidate.variant}: \`${c.candidate.file}\` (${mb(c.candidate.bytes)}, sha256 \`${c.candidate.sha256.slice(0, 16)}…\`); ` +
      `${c.reference.variant}: \`${c.reference.file}\` (${mb(c.reference.bytes)}, sha256 \`${c.reference.sha256.slice(0, 16)}…\`).`,
    '',
    '| measure | ' + c.candidate.variant + ' | ' + c.reference.variant + ' | difference |',
    '| --- | ---: | ---: | ---: |',
    `| file size | ${mb(c.candidate.bytes)} | ${mb(c.reference.bytes)} | ${(c.sizeRatio * 100).toFixed(1)}% |`,
    `| top-1 agreement | | | **${pct(c.top1Agreement)}** (${c.disagreements} of ${c.data.images} differ) |`,
    `| accuracy | ${pct(c.accuracy.candidate)} | ${pct(c.accuracy.reference)} | ${pts(c.accuracy.delta)} |`,
    ...c.sensitivity.map((s) => `| sensitivity ${s.label} | ${pct(s.candidate)} | ${pct(s.reference)} | ${pts(s.delta)} |`),
    `| largest probability change | | | ${c.maxProbabilityDelta.toFixed(4)} (mean ${c.meanProbabilityDelta.toFixed(5)}) |`,
    `| CAM localisation | ${pct(c.camLocalisation.candidate)} | ${pct(c.camLocalisation.reference)} | ${
      c.camLocalisation.candidate !== null && c.camLocalisation.reference !== null ? pts(c.camLocalisation.candidate - c.camLocalisation.reference) : 'n/a'
    } |`,
    `| median ms per image (decode to triage) | ${c.medianMsPerImage.candidate} | ${c.medianMsPerImage.reference} | |`,
    '',
  ].join('\n');
}

export function writeComparison(c: Comparison, outDir: string): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  const files = [path.join(outDir, 'comparison.json'), path.join(outDir, 'comparison.md')];
  fs.writeFileSync(files[0]!, `${JSON.stringify(c, null, 2)}\n`);
  fs.writeFileSync(files[1]!, comparisonMarkdown(c));
  return files;
}
