import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { toCspineError } from '../../errors.js';
import { activationPeak } from '../../imaging/heatmap.js';
import type { Classifier } from '../../pipeline/classifier.js';
import type { TriageLevel } from '../../triage/policy.js';
import { computeMetrics, rocCurve, type Metrics, type Sample } from './metrics.js';
import { confusionMatrixPng, rocPng } from './plots.js';
import { severityMarkdown, severityPng, severityReport, type Lamp, type SeverityOutcome, type SeverityReport } from './severity.js';

export interface LabelledImage {
  file: string;
  label: string;
  /** The abnormal region, in image pixels (phantoms' labels.csv), for CAM localisation. */
  box?: { x: number; y: number; width: number; height: number };
  /** labels.csv `kind` and `criterion_ratio`: how far over (or under) its clinical criterion the case is. */
  severity?: { kind: string; ratio: number };
}

/** Rasters and DICOM files, read by the runtime's own decoders as the box reads them. */
const IMAGE = /\.(png|jpe?g|tiff?|webp|dcm|dicom)$/i;

/** The research dataset's class folders (2,009 radiographs), read as our labels. */
const FOLDER_ALIASES: Readonly<Record<string, readonly string[]>> = { normal: ['c-spine_nor'], fracture: ['c-spine_frac'], dislocation: ['c-spine_dis'] };

/**
 * `DIR/labels.csv` (file,label,…,box_x,box_y,box_w,box_h,…,criterion_ratio) when present, else
 * DIR/<label>/ folders (or the research dataset's c-spine_nor/, c-spine_frac/, c-spine_dis/).
 */
export function readDataset(dir: string, labels: readonly string[]): LabelledImage[] {
  const csv = path.join(dir, 'labels.csv');
  if (fs.existsSync(csv)) {
    const [header, ...rows] = fs.readFileSync(csv, 'utf8').trim().split(/\r?\n/);
    const columns = header!.split(',');
    const column = (name: string) => columns.indexOf(name);
    if (column('file') < 0 || column('label') < 0) throw new Error(`${csv} needs "file" and "label" columns, has ${columns.join(', ')}`);
    return rows.map((row) => {
      const cells = row.split(',');
      const cell = (name: string) => cells[column(name)] ?? '';
      const [x, y, width, height] = ['box_x', 'box_y', 'box_w', 'box_h'].map((name) => cell(name));
      const image: LabelledImage = { file: path.join(dir, cell('file')), label: cell('label') };
      if (x && y && width && height) image.box = { x: Number(x), y: Number(y), width: Number(width), height: Number(height) };
      if (cell('criterion_ratio') !== '') image.severity = { kind: cell('kind') || (image.label === 'normal' ? 'none' : image.label), ratio: Number(cell('criterion_ratio')) };
      return image;
    });
  }
  return labels.flatMap((label) =>
    [label, ...(FOLDER_ALIASES[label] ?? [])].flatMap((name) => {
      const folder = path.join(dir, name);
      if (!fs.existsSync(folder)) return [];
      return fs
        .readdirSync(folder)
        .filter((file) => IMAGE.test(file))
        .sort()
        .map((file) => ({ file: path.join(folder, file), label }));
    }),
  );
}

export interface EvaluationReport {
  schema: 'cspine.evaluation.v1';
  model: { id: string; sha256: string };
  data: { dir: string; images: number; rejected: Array<{ file: string; code: string }> };
  date: string;
  metrics: Metrics;
  /** Share of abnormal images with a box whose CAM peak lies inside it; null without a CAM output. */
  camLocalisation: { evaluated: number; inside: number; share: number } | null;
  /** Lamps shown per true class: an abnormal image shown GREEN is the miss that matters most. */
  triage: Record<string, Record<Exclude<TriageLevel, 'FAULT'>, number>>;
  /** Lamps against severity in clinical units; null unless labels.csv has `criterion_ratio`. */
  severity: SeverityReport | null;
  medianMsPerImage: number;
}

/** Classifies every labelled image and computes the report, with the per-image scores behind it. */
export async function evaluate(
  classifier: Classifier,
  dataDir: string,
  onProgress?: (done: number, total: number, file: string) => void,
): Promise<{ report: EvaluationReport; samples: Sample[] }> {
  const { manifest } = classifier.engine.model;
  const images = readDataset(dataDir, manifest.labels);
  if (images.length === 0) throw new Error(`no labelled images in ${dataDir}: expected labels.csv or sub-folders ${manifest.labels.join('/')}/`);
  const unknown = images.find((image) => !manifest.labels.includes(image.label));
  if (unknown) throw new Error(`${unknown.file} is labelled "${unknown.label}", which the model does not know (${manifest.labels.join(', ')})`);

  const samples: Sample[] = [];
  const rejected: Array<{ file: string; code: string }> = [];
  const triage = Object.fromEntries(manifest.labels.map((label) => [label, { GREEN: 0, AMBER: 0, RED: 0 }]));
  const times: number[] = [];
  let camEvaluated = 0;
  let camInside = 0;
  const outcomes: SeverityOutcome[] = [];
  for (const [index, image] of images.entries()) {
    const record = (lamp: Lamp): void => {
      if (image.severity) outcomes.push({ ...image.severity, lamp });
    };
    try {
      const started = performance.now();
      const result = await classifier.classify(await fs.promises.readFile(image.file));
      times.push(performance.now() - started);
      samples.push({ truth: manifest.labels.indexOf(image.label), probabilities: manifest.labels.map((label) => result.probabilities[label]!) });
      triage[image.label]![result.triage.level as Exclude<TriageLevel, 'FAULT'>]++;
      record(result.triage.level as Exclude<TriageLevel, 'FAULT'>);
      if (result.cam && image.box && image.label !== 'normal') {
        const peak = activationPeak(result.cam, manifest, result.decoded.width, result.decoded.height);
        const { x, y, width, height } = image.box;
        camEvaluated++;
        if (peak.x >= x && peak.x <= x + width && peak.y >= y && peak.y <= y + height) camInside++;
      }
    } catch (error) {
      rejected.push({ file: path.relative(dataDir, image.file), code: toCspineError(error).code });
      record('rejected');
    }
    onProgress?.(index + 1, images.length, image.file);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const report: EvaluationReport = {
    schema: 'cspine.evaluation.v1',
    model: { id: manifest.id, sha256: manifest.sha256 },
    data: { dir: path.resolve(dataDir), images: images.length, rejected },
    date: new Date().toISOString(),
    metrics: computeMetrics(samples, manifest.labels),
    camLocalisation: camEvaluated === 0 ? null : { evaluated: camEvaluated, inside: camInside, share: camInside / camEvaluated },
    triage,
    severity: severityReport(outcomes),
    medianMsPerImage: sorted.length === 0 ? 0 : Math.round(sorted[sorted.length >> 1]! * 10) / 10,
  };
  return { report, samples };
}

const pct = (value: number) => (Number.isNaN(value) ? 'n/a' : `${(value * 100).toFixed(1)}%`);

/** evaluation.json, evaluation.md, confusion-matrix.png and roc.png in `outDir`; severity.png when the data has severities. */
export async function writeReport(report: EvaluationReport, samples: readonly Sample[], outDir: string, labels: readonly string[]): Promise<string[]> {
  fs.mkdirSync(outDir, { recursive: true });
  const { metrics } = report;
  const files = ['evaluation.json', 'evaluation.md', 'confusion-matrix.png', 'roc.png'].map((name) => path.join(outDir, name));
  fs.writeFileSync(files[0]!, `${JSON.stringify(report, null, 2)}\n`);
  const perClass = metrics.perClass.map(
    (c) => `| ${c.label} | ${c.support} | ${pct(c.precision)} | ${pct(c.recall)} | ${pct(c.specificity)} | ${pct(c.f1)} | ${Number.isNaN(c.rocAuc) ? 'n/a' : c.rocAuc.toFixed(4)} |`,
  );
  const confusion = metrics.confusion.map((row, r) => `| **${labels[r]}** | ${row.join(' | ')} |`);
  const triage = Object.entries(report.triage).map(([label, counts]) => `| ${label} | ${counts.GREEN} | ${counts.AMBER} | ${counts.RED} |`);
  const markdown = [
    `# Evaluation of ${report.model.id}`,
    '',
    `Model sha256 \`${report.model.sha256}\`; data \`${report.data.dir}\` (${report.data.images} images${report.data.rejected.length ? `, ${report.data.rejected.length} rejected` : ''}); ${report.date}.`,
    '',
    `- **Accuracy ${pct(metrics.accuracy)}** over ${metrics.count} images`,
    `- Expected calibration error ${metrics.expectedCalibrationError.toFixed(4)} (15 bins)`,
    `- CAM localisation: ${report.camLocalisation ? `${pct(report.camLocalisation.share)} (${report.camLocalisation.inside} of ${report.camLocalisation.evaluated} abnormal images peak inside the labelled box)` : 'n/a (no CAM output or no boxes)'}`,
    `- Median ${report.medianMsPerImage} ms per image (decode to triage)`,
    '',
    '| class | n | precision | recall (sensitivity) | specificity | F1 | ROC AUC |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...perClass,
    '',
    `| true \\ predicted | ${labels.join(' | ')} |`,
    `| --- | ${labels.map(() => '---:').join(' | ')} |`,
    ...confusion,
    '',
    '![Confusion matrix](confusion-matrix.png) ![ROC curves](roc.png)',
    '',
    'Lamps shown, per true class (an abnormal image shown GREEN is the miss that matters most):',
    '',
    '| true class | GREEN | AMBER | RED |',
    '| --- | ---: | ---: | ---: |',
    ...triage,
    '',
    ...(report.severity ? severityMarkdown(report.severity) : []),
  ].join('\n');
  fs.writeFileSync(files[1]!, markdown);
  fs.writeFileSync(files[2]!, await confusionMatrixPng(metrics.confusion, labels, `${report.model.id}: confusion matrix`));
  const curves = labels.map((label, c) => ({
    label,
    auc: metrics.perClass[c]!.rocAuc,
    points: rocCurve(
      samples.map((s) => s.probabilities[c]!),
      samples.map((s) => s.truth === c),
    ),
  }));
  fs.writeFileSync(files[3]!, await rocPng(curves, `${report.model.id}: one-vs-rest ROC`));
  if (report.severity) {
    const plot = path.join(outDir, 'severity.png');
    fs.writeFileSync(plot, await severityPng(report.severity, `${report.model.id}: lamps against severity`));
    files.push(plot);
  }
  return files;
}
