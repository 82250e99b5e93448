import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { readManifest, writeManifest } from '../model/model-package.js';
import { SIGNATURE_FILE } from '../model/signature.js';
import { openClassifier } from '../pipeline/open-classifier.js';
import { writeValidation } from '../tools/validate/report.js';
import { validate, type ValidationReport } from '../tools/validate/validate.js';
import { ProgressBar } from '../ui/progress.js';
import { modelSignCommand } from './model-signing.js';
import { commandConfig, CONFIG_OPTION, defineCommand, numberInRange, UsageError } from './options.js';

const out = (lines: string[]) => process.stdout.write(`${lines.join('\n')}\n`);
const percent = (share: number) => (Number.isNaN(share) ? 'n/a' : `${(share * 100).toFixed(1)}%`);

/** `validate --write` found nothing to write: the report says why. */
const EXIT_NO_RECOMMENDATION = 3;

export interface ModelValidateOptions {
  modelDir: string;
  dataDir: string;
  outDir?: string | undefined;
  variant?: string | undefined;
  maxInjuredAmongGreen: number;
  confidence: number;
  write: boolean;
  key?: string | undefined;
}

/**
 * `cspine-edge model validate MODEL_DIR --data DIR`: a site's held-out labelled films through the
 * package, the acceptance report, and with --write the recommended greenMinNormal (and where it
 * came from) in the manifest, signed again with --key.
 */
export async function modelValidateCommand(config: Config, options: ModelValidateOptions): Promise<number> {
  const signed = fs.existsSync(path.join(options.modelDir, SIGNATURE_FILE));
  // Before the films are read: finding out after an hour that nothing can be written would waste it.
  if (options.write && signed && options.key === undefined) {
    throw new UsageError(`${options.modelDir} is signed: writing the thresholds changes its manifest, so give --key KEY to sign it again (or leave out --write)`);
  }
  const classifier = await openClassifier(config, options.modelDir, options.variant);
  let report: ValidationReport;
  try {
    let progress: ProgressBar | undefined;
    report = await validate(classifier, options.dataDir, { maxInjuredAmongGreen: options.maxInjuredAmongGreen, confidence: options.confidence }, (_done, total, file) => {
      progress ??= new ProgressBar(total);
      progress.tick(path.basename(file));
    });
  } finally {
    await classifier.engine.close();
  }
  const outDir = options.outDir ?? path.join(options.modelDir, 'evaluation', 'validation');
  const { files, reportSha256 } = await writeValidation(report, outDir, report.perClass.map((c) => c.label));
  const { recommendation } = report;
  out([
    `${report.data.films} films (${report.data.rejected.length} rejected); accuracy ${percent(report.accuracy)}`,
    ...report.perClass.map((c) => `  ${c.label.padEnd(12)} sensitivity ${percent(c.sensitivity.share)} (${percent(c.sensitivity.low)}–${percent(c.sensitivity.high)})  specificity ${percent(c.specificity.share)} (${percent(c.specificity.low)}–${percent(c.specificity.high)})`),
    recommendation.greenMinNormal === null
      ? `no recommendation: ${recommendation.reason}`
      : `recommended greenMinNormal ${recommendation.greenMinNormal}: injured among GREEN ${percent(recommendation.row.injuredAmongGreen.share)}, upper bound ${percent(recommendation.row.injuredAmongGreen.high)} ≤ target ${percent(options.maxInjuredAmongGreen)}; normals GREEN ${percent(recommendation.row.normalsGreen.share)}`,
    `wrote ${files.join(', ')}`,
  ]);
  if (!options.write) return 0;
  if (recommendation.greenMinNormal === null) {
    out(['nothing written to the manifest']);
    return EXIT_NO_RECOMMENDATION;
  }
  const manifest = await readManifest(options.modelDir);
  writeManifest(options.modelDir, {
    ...manifest,
    triage: {
      ...manifest.triage,
      greenMinNormal: recommendation.greenMinNormal,
      validation: {
        reportSha256,
        date: report.date,
        films: report.data.films - report.data.rejected.length,
        data: report.data.name,
        maxInjuredAmongGreen: options.maxInjuredAmongGreen,
        confidence: options.confidence,
      },
    },
  });
  out([`manifest.json: triage.greenMinNormal ${recommendation.greenMinNormal}, with the validation it came from (report sha256 ${reportSha256.slice(0, 12)}…)`]);
  if (options.key !== undefined) return modelSignCommand({ modelDir: options.modelDir, key: options.key });
  return 0;
}

export const modelValidate = defineCommand({
  synopsis: 'model validate MODEL_DIR --data DIR [--target 0.005] [--confidence 0.95] [--out DIR] [--variant V] [--write [--key KEY]]',
  about: `A site's held-out labelled films (labels.csv, class folders or the research dataset's
c-spine_nor/frac/dis folders; PNG, JPEG, TIFF or DICOM) through the package as the box reads
them: sensitivity and specificity per class with Wilson intervals, calibration, the OOD flag rate,
and the lamp table: for each greenMinNormal, the normals shown GREEN and the injured spines
among GREEN with their upper bound. It recommends the threshold that shows the most normals GREEN
while that bound stays within --target. Report in --out (default MODEL_DIR/evaluation/validation/).
--write puts the recommendation, with the report's hash, into manifest.json (exit 3 when there is
none); a signed package needs --key to be signed again. docs/own-data.md.`,
  operands: true,
  options: {
    data: { type: 'string' },
    target: { type: 'string', default: '0.005' },
    confidence: { type: 'string', default: '0.95' },
    out: { type: 'string' },
    variant: { type: 'string' },
    write: { type: 'boolean', default: false },
    key: { type: 'string' },
    ...CONFIG_OPTION,
  },
  optionHelp: `  --data DIR                the site's held-out labelled films
  --target T                the most injured spines among GREEN, as an upper confidence bound
                            (default 0.005 = 0.5%)
  --confidence C            of the intervals and the bound (default 0.95)
  --out DIR                 where the report goes
  --variant V               the package variant to validate (default: model.variant)
  --write                   the recommended greenMinNormal into manifest.json
  --key KEY                 sign the package again after --write (needed when it was signed)`,
  run: ({ values, positionals: [modelDir] }) => {
    if (modelDir === undefined || values.data === undefined) throw new UsageError('usage: model validate MODEL_DIR --data DIR [--target 0.005] [--confidence 0.95] [--out DIR] [--write [--key KEY]]');
    if (values.key !== undefined && !values.write) throw new UsageError('--key signs the package after --write; give --write too');
    return modelValidateCommand(commandConfig(values), {
      modelDir,
      dataDir: values.data,
      outDir: values.out,
      variant: values.variant,
      maxInjuredAmongGreen: numberInRange('target', values.target, 0.0001, 0.5),
      confidence: numberInRange('confidence', values.confidence, 0.5, 0.999),
      write: values.write,
      key: values.key,
    });
  },
});
