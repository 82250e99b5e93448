/**
 * `model evaluate MODEL_DIR --ood DIR`: every image of one or more `synth-ood` sets (ood.csv)
 * through the real pipeline, and what the device would have shown for it: the lamp per
 * category, how well the OOD detector (and, beside it, the max-softmax baseline) tells the
 * model's world from the rest, and the checks that must hold (docs/model-package.md,
 * "Evaluating against unfamiliar inputs").
 */
import fs from 'node:fs';
import path from 'node:path';
import { toCspineError } from '../../errors.js';
import { decodeImage } from '../../imaging/decode.js';
import type { DecodeLimits } from '../../imaging/image.js';
import { preprocessImage } from '../../imaging/preprocess.js';
import type { Classifier } from '../../pipeline/classifier.js';
import type { OodGroup } from '../synth/ood/item.js';
import { rocAuc } from './metrics.js';
import { LAMP_COLOURS, stackedBarsPng } from './plots.js';

export const OOD_GROUPS: readonly OodGroup[] = ['far-ood', 'near-ood', 'in-distribution'];
/** Classes that are an injured spine: one of these shown GREEN is the miss that must not happen. */
const INJURED = new Set(['fracture', 'dislocation']);
/** Far-ood categories must be AMBER or rejected at least this often. */
export const FAR_OOD_MIN_AMBER = 0.95;
/** In-distribution images may be flagged (rejected or OOD) at most this often. */
export const IN_DISTRIBUTION_MAX_FLAGGED = 0.02;
/** The detector's far-ood FPR at 95% TPR must be at most this. */
export const FAR_OOD_MAX_FPR = 0.05;
export const TARGET_TPR = 0.95;

/** One row of an ood.csv, with the file resolved against its set's folder. */
export interface OodSetImage {
  /** Index of the set (the `--ood` folder) it came from. */
  set: number;
  /** As in ood.csv: relative to the set's folder. */
  file: string;
  path: string;
  category: string;
  group: OodGroup;
  /** The true class of phantom-derived images; null for the rest. */
  label: string | null;
}

/** `DIR/ood.csv` (file,category,group,label,source), as `synth-ood` and scripts/ood/debian-photos.sh write it. */
export function readOodSet(dir: string, set = 0): OodSetImage[] {
  const csv = path.join(dir, 'ood.csv');
  if (!fs.existsSync(csv)) throw new Error(`${csv} not found: --ood takes a folder written by "cspine-edge synth-ood" (docs/phantoms.md)`);
  const [header, ...rows] = fs.readFileSync(csv, 'utf8').trim().split(/\r?\n/);
  const columns = header!.split(',');
  const column = (name: string) => columns.indexOf(name);
  const missing = ['file', 'category', 'group'].filter((name) => column(name) < 0);
  if (missing.length > 0) throw new Error(`${csv} needs columns file, category, group (and label); it has ${columns.join(', ')}`);
  return rows
    .filter((row) => row.trim() !== '')
    .map((row, i) => {
      const cells = row.split(',');
      const cell = (name: string) => (column(name) < 0 ? '' : (cells[column(name)] ?? '').trim());
      const group = cell('group');
      if (!(OOD_GROUPS as readonly string[]).includes(group)) throw new Error(`${csv} line ${i + 2}: group "${group}" is not one of ${OOD_GROUPS.join(', ')}`);
      const file = cell('file');
      return { set, file, path: path.join(dir, ...file.split('/')), category: cell('category'), group: group as OodGroup, label: cell('label') || null };
    });
}

type Lamp = 'GREEN' | 'AMBER' | 'RED';
/** The lamp the device shows, or `rejected` (an AMBER "retake"/"review" on the device) with its code. */
export type OodOutcome = Lamp | 'rejected';

export interface OodImageResult {
  set: number;
  file: string;
  category: string;
  group: OodGroup;
  label: string | null;
  outcome: OodOutcome;
  /** The error code when the image was rejected (E_QUALITY_* from the quality gate, or a decode error). */
  code?: string;
  /** The model's top class, when it classified the image. */
  predicted?: string;
  /** The package's OOD verdict on the image as classified (after any orientation correction). */
  ood?: { score: number; inDistribution: boolean };
  /** The image was classified after turning and/or inverting it; `asReceivedScore` is the verdict before. */
  orientation?: { rotated: number; inverted: boolean; asReceivedScore: number; asReceivedInDistribution: boolean };
  /** 1 − max softmax probability on the image as received (the baseline detector); higher is less familiar. */
  baseline?: number;
}

export interface CategorySummary {
  category: string;
  group: OodGroup;
  n: number;
  GREEN: number;
  AMBER: number;
  RED: number;
  rejected: number;
  rejectedByCode: Record<string, number>;
  /** Rejected, or classified with an OOD verdict outside the model's world. */
  flagged: number;
  flaggedRate: number;
  /** Classified after an orientation correction. */
  corrected: number;
  /** Share AMBER or rejected (the far-ood requirement). */
  amberOrRejectedShare: number;
  /** Labelled (phantom-derived) images only: top class right, over the images the model classified. */
  accuracy: number | null;
  classifiedLabelled: number;
  /** Labelled images only: fracture or dislocation shown GREEN. Must be 0. */
  injuredGreen: number | null;
}

export interface DetectorQuality {
  /** In-distribution (positive) and out-of-distribution images scored. */
  nIn: number;
  nOut: number;
  /** P(an in-distribution image scores lower than an OOD one), ties half: 1 is perfect, 0.5 chance. */
  auroc: number;
  /** The score that keeps 95% of in-distribution images (at or below it). */
  thresholdAt95Tpr: number;
  /** Share of OOD images scored at or below that threshold: let through as familiar. */
  fprAt95Tpr: number;
}

export type CheckStatus = 'pass' | 'fail' | 'n/a';
export interface SafetyCheck {
  id: string;
  description: string;
  status: CheckStatus;
  detail: string;
}

export interface OodEvaluationReport {
  schema: 'cspine.ood-evaluation.v1';
  model: { id: string; sha256: string; variant: string };
  sets: Array<{ dir: string; images: number }>;
  date: string;
  /** guarded: the pipeline returned OOD verdicts (the package has OOD statistics). */
  detector: { guarded: boolean; method: string | null; manifestHasOod: boolean };
  categories: CategorySummary[];
  groups: Record<OodGroup, { n: number; GREEN: number; AMBER: number; RED: number; rejected: number; flagged: number; flaggedRate: number; accuracy: number | null; injuredGreen: number }>;
  /** Detector quality, in-distribution vs each OOD group; images rejected by the pipeline are left out. */
  detection: {
    excludedRejected: number;
    score: { farOod: DetectorQuality | null; nearOod: DetectorQuality | null } | null;
    baseline: { farOod: DetectorQuality | null; nearOod: DetectorQuality | null };
  };
  checks: SafetyCheck[];
  images: OodImageResult[];
}

/** AUROC of an OOD score (higher = less familiar) with in-distribution as the positive class. */
export function oodAuroc(inScores: readonly number[], outScores: readonly number[]): number {
  // rocAuc ranks "higher is positive": the negated score makes in-distribution the high side.
  return rocAuc([...inScores, ...outScores].map((s) => -s), [...inScores.map(() => true), ...outScores.map(() => false)]);
}

/**
 * The threshold that keeps `tpr` of the in-distribution images (score at or below it) and the
 * share of OOD images that it keeps too. NaN without images on either side.
 */
export function fprAtTpr(inScores: readonly number[], outScores: readonly number[], tpr = TARGET_TPR): { threshold: number; fpr: number } {
  if (inScores.length === 0 || outScores.length === 0) return { threshold: Number.NaN, fpr: Number.NaN };
  const sorted = [...inScores].sort((a, b) => a - b);
  // the smallest threshold with at least tpr·n in-distribution scores at or below it
  const threshold = sorted[Math.max(0, Math.ceil(tpr * sorted.length - 1e-9) - 1)]!;
  return { threshold, fpr: outScores.filter((s) => s <= threshold).length / outScores.length };
}

export function detectorQuality(inScores: readonly number[], outScores: readonly number[]): DetectorQuality | null {
  if (inScores.length === 0 || outScores.length === 0) return null;
  const { threshold, fpr } = fprAtTpr(inScores, outScores);
  return { nIn: inScores.length, nOut: outScores.length, auroc: oodAuroc(inScores, outScores), thresholdAt95Tpr: threshold, fprAt95Tpr: fpr };
}

export interface EvaluateOodOptions {
  /** Decode limits for the baseline's second look at a re-oriented image (config.imaging). */
  limits?: DecodeLimits;
  onProgress?: (done: number, total: number, file: string) => void;
}

/** Classifies every image of every set with `classifier` and builds the report. */
export async function evaluateOod(classifier: Classifier, setDirs: readonly string[], options: EvaluateOodOptions = {}): Promise<OodEvaluationReport> {
  const { model } = classifier.engine;
  const { manifest } = model;
  const images = setDirs.flatMap((dir, set) => readOodSet(dir, set));
  if (images.length === 0) throw new Error(`no images listed in ${setDirs.map((d) => path.join(d, 'ood.csv')).join(', ')}`);
  const limits = options.limits ?? { maxPixels: 64_000_000 };
  const baselineOf = (probabilities: readonly number[]) => 1 - Math.max(...probabilities);

  const results: OodImageResult[] = [];
  let method: string | null = null;
  for (const [index, image] of images.entries()) {
    const base = { set: image.set, file: image.file, category: image.category, group: image.group, label: image.label };
    try {
      const bytes = await fs.promises.readFile(image.path);
      const result = await classifier.classify(bytes);
      const entry: OodImageResult = { ...base, outcome: result.triage.level === 'FAULT' ? 'AMBER' : result.triage.level, predicted: result.label };
      if (result.ood) {
        method ??= result.ood.method;
        entry.ood = { score: result.ood.score, inDistribution: result.ood.inDistribution };
      }
      if (result.orientation) {
        const { rotated, inverted, asReceived } = result.orientation;
        entry.orientation = { rotated, inverted, asReceivedScore: asReceived.score, asReceivedInDistribution: asReceived.inDistribution };
        // The baseline must judge what arrived, as the detector's as-received score does.
        const asArrived = await decodeImage(bytes, limits);
        entry.baseline = baselineOf((await classifier.engine.infer(await preprocessImage(asArrived, manifest))).probabilities);
      } else {
        entry.baseline = baselineOf(manifest.labels.map((label) => result.probabilities[label]!));
      }
      results.push(entry);
    } catch (error) {
      results.push({ ...base, outcome: 'rejected', code: toCspineError(error).code });
    }
    options.onProgress?.(index + 1, images.length, image.file);
  }

  const categories = summariseCategories(results);
  const groups = Object.fromEntries(OOD_GROUPS.map((group) => [group, summariseGroup(results.filter((r) => r.group === group))])) as OodEvaluationReport['groups'];
  const guarded = results.some((r) => r.ood !== undefined);
  const scored = results.filter((r) => r.outcome !== 'rejected');
  const scoresOf = (group: OodGroup, pick: (r: OodImageResult) => number | undefined) =>
    scored.filter((r) => r.group === group).map(pick).filter((s): s is number => s !== undefined && Number.isFinite(s));
  const versus = (pick: (r: OodImageResult) => number | undefined) => ({
    farOod: detectorQuality(scoresOf('in-distribution', pick), scoresOf('far-ood', pick)),
    nearOod: detectorQuality(scoresOf('in-distribution', pick), scoresOf('near-ood', pick)),
  });
  // The detector is judged on the image as it arrived: a re-oriented image was first found unfamiliar.
  const packageScore = (r: OodImageResult) => r.orientation?.asReceivedScore ?? r.ood?.score;
  const detection: OodEvaluationReport['detection'] = {
    excludedRejected: results.length - scored.length,
    score: guarded ? versus(packageScore) : null,
    baseline: versus((r) => r.baseline),
  };
  const sets = setDirs.map((dir, set) => ({ dir: path.resolve(dir), images: images.filter((i) => i.set === set).length }));
  return {
    schema: 'cspine.ood-evaluation.v1',
    model: { id: manifest.id, sha256: manifest.sha256, variant: model.variant },
    sets,
    date: new Date().toISOString(),
    detector: { guarded, method, manifestHasOod: manifest.ood !== undefined },
    categories,
    groups,
    detection,
    checks: safetyChecks(categories, groups, detection, guarded),
    images: results,
  };
}

const share = (count: number, n: number): number => (n === 0 ? Number.NaN : count / n);
const isFlagged = (r: OodImageResult): boolean => r.outcome === 'rejected' || r.ood?.inDistribution === false;

function summariseGroup(results: readonly OodImageResult[]) {
  const count = (outcome: OodOutcome) => results.filter((r) => r.outcome === outcome).length;
  const labelled = results.filter((r) => r.label !== null && r.outcome !== 'rejected');
  const flagged = results.filter(isFlagged).length;
  return {
    n: results.length,
    GREEN: count('GREEN'),
    AMBER: count('AMBER'),
    RED: count('RED'),
    rejected: count('rejected'),
    flagged,
    flaggedRate: share(flagged, results.length),
    accuracy: labelled.length === 0 ? null : labelled.filter((r) => r.predicted === r.label).length / labelled.length,
    injuredGreen: results.filter((r) => r.label !== null && INJURED.has(r.label) && r.outcome === 'GREEN').length,
  };
}

/** One summary per category, grouped far-ood, near-ood, in-distribution, each in the order first met. */
export function summariseCategories(results: readonly OodImageResult[]): CategorySummary[] {
  const order: string[] = [];
  const byCategory = new Map<string, OodImageResult[]>();
  for (const r of results) {
    if (!byCategory.has(r.category)) {
      byCategory.set(r.category, []);
      order.push(r.category);
    }
    byCategory.get(r.category)!.push(r);
  }
  const rank = (category: string) => OOD_GROUPS.indexOf(byCategory.get(category)![0]!.group);
  return [...order]
    .sort((a, b) => rank(a) - rank(b) || order.indexOf(a) - order.indexOf(b))
    .map((category) => {
      const rows = byCategory.get(category)!;
      const summary = summariseGroup(rows);
      const labelled = rows.filter((r) => r.label !== null);
      const classifiedLabelled = labelled.filter((r) => r.outcome !== 'rejected');
      const rejectedByCode: Record<string, number> = {};
      for (const r of rows) if (r.code) rejectedByCode[r.code] = (rejectedByCode[r.code] ?? 0) + 1;
      return {
        category,
        group: rows[0]!.group,
        n: summary.n,
        GREEN: summary.GREEN,
        AMBER: summary.AMBER,
        RED: summary.RED,
        rejected: summary.rejected,
        rejectedByCode,
        flagged: summary.flagged,
        flaggedRate: summary.flaggedRate,
        corrected: rows.filter((r) => r.orientation !== undefined).length,
        amberOrRejectedShare: share(summary.AMBER + summary.rejected, summary.n),
        accuracy: labelled.length === 0 ? null : summary.accuracy,
        classifiedLabelled: classifiedLabelled.length,
        injuredGreen: labelled.length === 0 ? null : summary.injuredGreen,
      };
    });
}

const pct = (value: number | null | undefined, digits = 1): string => (value === null || value === undefined || Number.isNaN(value) ? 'n/a' : `${(value * 100).toFixed(digits)}%`);

export function safetyChecks(
  categories: readonly CategorySummary[],
  groups: OodEvaluationReport['groups'],
  detection: OodEvaluationReport['detection'],
  guarded: boolean,
): SafetyCheck[] {
  const checks: SafetyCheck[] = [];
  const status = (ok: boolean): CheckStatus => (ok ? 'pass' : 'fail');
  for (const c of categories.filter((c) => c.group === 'far-ood')) {
    const ok = c.GREEN === 0 && c.amberOrRejectedShare >= FAR_OOD_MIN_AMBER;
    checks.push({
      id: `far-ood/${c.category}`,
      description: `far-ood ${c.category}: never GREEN, ≥ ${pct(FAR_OOD_MIN_AMBER, 0)} AMBER or rejected`,
      status: status(ok),
      detail: `GREEN ${c.GREEN} of ${c.n}; AMBER or rejected ${pct(c.amberOrRejectedShare)} (${c.AMBER + c.rejected} of ${c.n})`,
    });
  }
  for (const c of categories.filter((c) => c.group === 'near-ood')) {
    checks.push({
      id: `near-ood/${c.category}`,
      description: `near-ood ${c.category}: no injured spine GREEN`,
      status: c.injuredGreen === null ? 'n/a' : status(c.injuredGreen === 0),
      detail: c.injuredGreen === null ? 'no labelled images' : `${c.injuredGreen} injured GREEN (of ${c.n} images)`,
    });
  }
  const inDist = groups['in-distribution'];
  checks.push({
    id: 'in-distribution/flagged',
    description: `in-distribution: ≤ ${pct(IN_DISTRIBUTION_MAX_FLAGGED, 0)} flagged (rejected or OOD)`,
    status: inDist.n === 0 ? 'n/a' : status(inDist.flaggedRate <= IN_DISTRIBUTION_MAX_FLAGGED),
    detail: inDist.n === 0 ? 'no in-distribution images' : `${pct(inDist.flaggedRate, 2)} (${inDist.flagged} of ${inDist.n}: ${inDist.rejected} rejected)`,
  });
  checks.push({
    id: 'in-distribution/injured-green',
    description: 'in-distribution: no injured spine GREEN',
    status: inDist.n === 0 ? 'n/a' : status(inDist.injuredGreen === 0),
    detail: inDist.n === 0 ? 'no in-distribution images' : `${inDist.injuredGreen} injured GREEN`,
  });
  const far = detection.score?.farOod ?? null;
  checks.push({
    id: 'detector/far-ood-fpr',
    description: `OOD detector: far-ood FPR at ${pct(TARGET_TPR, 0)} TPR ≤ ${pct(FAR_OOD_MAX_FPR, 0)}`,
    status: !guarded ? 'fail' : far === null ? 'n/a' : status(far.fprAt95Tpr <= FAR_OOD_MAX_FPR),
    detail: !guarded
      ? 'the package has no OOD statistics: unguarded'
      : far === null
        ? 'needs in-distribution and far-ood images the pipeline did not reject'
        : `${pct(far.fprAt95Tpr, 2)} (${Math.round(far.fprAt95Tpr * far.nOut)} of ${far.nOut} far-ood images at or below the threshold ${far.thresholdAt95Tpr.toFixed(3)})`,
  });
  return checks;
}

const auc = (q: DetectorQuality | null | undefined): string => (q ? q.auroc.toFixed(4) : 'n/a');
const fpr = (q: DetectorQuality | null | undefined): string => (q ? pct(q.fprAt95Tpr) : 'n/a');

export function oodMarkdown(report: OodEvaluationReport): string {
  const { detector, detection, groups } = report;
  const failed = report.checks.filter((c) => c.status === 'fail');
  const categoryRows = report.categories.map(
    (c) =>
      `| ${c.group} | ${c.category} | ${c.n} | ${c.GREEN} | ${c.AMBER} | ${c.RED} | ${c.rejected} | ${pct(c.flaggedRate)} | ${c.corrected} | ${pct(c.amberOrRejectedShare)} | ${c.accuracy === null ? '' : pct(c.accuracy)} | ${c.injuredGreen === null ? '' : c.injuredGreen === 0 ? '0' : `**${c.injuredGreen}**`} |`,
  );
  const codes = report.categories
    .filter((c) => c.rejected > 0)
    .map((c) => `${c.category}: ${Object.entries(c.rejectedByCode).map(([code, n]) => `${code} ${n}`).join(', ')}`);
  const detectorRow = (name: string, pick: 'farOod' | 'nearOod') => {
    const score = detection.score?.[pick];
    const baseline = detection.baseline[pick];
    const n = score ?? baseline;
    return `| in-distribution vs ${name} | ${n ? `${n.nIn} / ${n.nOut}` : 'n/a'} | ${detection.score ? auc(score) : 'unguarded'} | ${detection.score ? fpr(score) : 'unguarded'} | ${auc(baseline)} | ${fpr(baseline)} |`;
  };
  const inDist = groups['in-distribution'];
  return [
    `# ${report.model.id}: unfamiliar inputs`,
    '',
    `Model sha256 \`${report.model.sha256}\` (variant ${report.model.variant}); ${report.sets.map((s) => `\`${s.dir}\` (${s.images} images)`).join(', ')}; ${report.date}.`,
    '',
    detector.guarded
      ? `OOD detector: \`${detector.method}\` (from the package's OOD statistics).`
      : `**The package has no OOD statistics: it is unguarded.** Only the quality gate and the triage thresholds stand between an unfamiliar image and a lamp${detector.manifestHasOod ? ' (manifest.json has an `ood` section, but the pipeline returned no verdicts)' : ''}; the detector columns below show only the max-softmax baseline.`,
    '',
    `## Must hold: ${failed.length === 0 ? 'all pass' : `${failed.length} FAILED`}`,
    '',
    '| result | check | measured |',
    '| --- | --- | --- |',
    ...report.checks.map((c) => `| ${c.status === 'fail' ? '**FAIL**' : c.status === 'pass' ? 'pass' : 'n/a'} | ${c.description} | ${c.detail} |`),
    '',
    '## Lamps per category',
    '',
    'Rejected = refused before the model (quality gate or decode; AMBER "retake" on the device). Flagged = rejected, or classified but outside the model\'s world by the OOD verdict. Corrected = classified after turning or inverting it. Accuracy (phantom-derived images) is over the images the model classified; injured GREEN counts fractures and dislocations shown GREEN.',
    '',
    '| group | category | n | GREEN | AMBER | RED | rejected | flagged | corrected | AMBER or rejected | accuracy | injured GREEN |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...categoryRows,
    '',
    ...(codes.length > 0 ? ['Rejections by code: ' + codes.join('; ') + '.', ''] : []),
    '![Lamps per category](ood.png)',
    '',
    `In-distribution overall: ${pct(inDist.flaggedRate, 2)} flagged (${inDist.flagged} of ${inDist.n}), accuracy ${pct(inDist.accuracy, 2)}, ${inDist.injuredGreen} injured GREEN.`,
    '',
    '## Detector quality',
    '',
    `In-distribution images are the positive class. AUROC: the chance that an in-distribution image scores as more familiar than an OOD one (1 perfect, 0.5 chance). FPR at 95% TPR: the threshold that keeps 95% of in-distribution images, and the share of OOD images it keeps too. The package's score is taken on the image as received (before any orientation correction); the max-softmax baseline is 1 − the largest class probability on the image as received. The ${detection.excludedRejected} image${detection.excludedRejected === 1 ? '' : 's'} rejected before the model ${detection.excludedRejected === 1 ? 'is' : 'are'} left out here (they have no score) but counted in the lamps above.`,
    '',
    '| comparison | n in / out | OOD score AUROC | OOD score FPR@95%TPR | max-softmax AUROC | max-softmax FPR@95%TPR |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    detectorRow('far-ood', 'farOod'),
    detectorRow('near-ood', 'nearOod'),
    '',
  ].join('\n');
}

/** ood.json, ood.md and ood.png in `outDir`. */
export async function writeOodReport(report: OodEvaluationReport, outDir: string): Promise<string[]> {
  fs.mkdirSync(outDir, { recursive: true });
  const files = ['ood.json', 'ood.md', 'ood.png'].map((name) => path.join(outDir, name));
  fs.writeFileSync(files[0]!, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(files[1]!, oodMarkdown(report));
  fs.writeFileSync(files[2]!, await oodLampsPng(report));
  return files;
}

export function oodLampsPng(report: OodEvaluationReport): Promise<Buffer> {
  const failed = new Set(report.checks.filter((c) => c.status === 'fail').map((c) => c.id));
  const rows = report.categories.map((c) => ({
    label: `${c.category} (${c.n})`,
    group: c.group,
    counts: [c.GREEN, c.AMBER, c.RED, c.rejected],
    note: c.group === 'far-ood' ? `${c.GREEN ? `${c.GREEN} GREEN; ` : ''}AMBER/rejected ${pct(c.amberOrRejectedShare, 0)}` : c.injuredGreen ? `${c.injuredGreen} injured GREEN` : `flagged ${pct(c.flaggedRate, 0)}`,
    alert: failed.has(`${c.group}/${c.category}`) || (c.injuredGreen ?? 0) > 0 || (c.group === 'in-distribution' && c.flaggedRate > IN_DISTRIBUTION_MAX_FLAGGED),
  }));
  const series = [
    { name: 'GREEN', colour: LAMP_COLOURS.GREEN },
    { name: 'AMBER', colour: LAMP_COLOURS.AMBER, text: '#222' },
    { name: 'RED', colour: LAMP_COLOURS.RED },
    { name: 'rejected (AMBER retake)', colour: LAMP_COLOURS.rejected, text: '#222' },
  ];
  return stackedBarsPng(rows, series, `${report.model.id}: lamp per input category${report.detector.guarded ? '' : ' (no OOD detector)'}`);
}

/** The console summary: groups, detector, and every check, failures first and loud. */
export function oodSummaryLines(report: OodEvaluationReport): string[] {
  const { groups, detection } = report;
  const failed = report.checks.filter((c) => c.status === 'fail');
  const notApplicable = report.checks.filter((c) => c.status === 'n/a');
  return [
    `OOD evaluation of ${report.model.id}${report.model.variant === 'default' ? '' : ` [${report.model.variant}]`}: ${report.images.length} images in ${report.categories.length} categories${report.detector.guarded ? `, detector ${report.detector.method}` : '; NO OOD STATISTICS: the package is unguarded'}`,
    ...OOD_GROUPS.filter((g) => groups[g].n > 0).map(
      (g) => `  ${g.padEnd(16)} n ${String(groups[g].n).padStart(5)}  GREEN ${groups[g].GREEN}  AMBER ${groups[g].AMBER}  RED ${groups[g].RED}  rejected ${groups[g].rejected}  flagged ${pct(groups[g].flaggedRate)}${groups[g].accuracy === null ? '' : `  accuracy ${pct(groups[g].accuracy)}`}`,
    ),
    `  detector AUROC far-ood ${detection.score ? auc(detection.score.farOod) : 'unguarded'} (FPR@95%TPR ${detection.score ? fpr(detection.score.farOod) : 'n/a'}), near-ood ${detection.score ? auc(detection.score.nearOod) : 'unguarded'}; max-softmax baseline ${auc(detection.baseline.farOod)} / ${auc(detection.baseline.nearOod)}; ${detection.excludedRejected} rejected images left out`,
    (failed.length > 0 ? `FAILED ${failed.length} of ${report.checks.length} must-hold checks` : `all ${report.checks.length - notApplicable.length} must-hold checks pass`) +
      (notApplicable.length > 0 ? ` (${notApplicable.length} n/a, for want of their images: ${notApplicable.map((c) => c.id).join(', ')})` : '') +
      (failed.length > 0 ? ':' : ''),
    ...failed.map((c) => `  FAIL ${c.description}: ${c.detail}`),
  ];
}
