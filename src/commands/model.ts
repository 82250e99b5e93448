import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { CspineError, ErrorCode, ModelError } from '../errors.js';
import { measureLatency, type Latency } from '../tools/bench/bench.js';
import { accuracyOf, measureInChild, packageTable, recommend, recommendationLine, type Accuracy, type BenchRow } from '../tools/bench/compare.js';
import { compareRuns, comparisonMarkdown, writeComparison, type EvaluationRun } from '../tools/evaluate/compare.js';
import { evaluate, writeReport } from '../tools/evaluate/evaluate.js';
import { evaluateOod, oodSummaryLines, writeOodReport, type SafetyCheck } from '../tools/evaluate/evaluate-ood.js';
import { severitySummaryLines } from '../tools/evaluate/severity.js';
import { isArm } from '../model/inference.js';
import { defaultVariantName, MANIFEST_FILE, manifestSchema, type ModelManifest } from '../model/manifest.js';
import { loadModelPackage, readManifest, writeManifest } from '../model/model-package.js';
import { defaultOpset, readOnnx } from '../model/onnx-io.js';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../tools/quantize/calibrate.js';
import { rebuildFp32, writeQuantizedPackage } from '../tools/quantize/package.js';
import type { SharedWeightMode } from '../tools/quantize/plan.js';
import type { ActivationType } from '../tools/quantize/qdq.js';
import { listImages, optimizedOps, quantizeModel, sampleEvenly } from '../tools/quantize/quantize.js';
import { openClassifier } from '../pipeline/open-classifier.js';
import { ProgressBar } from '../ui/progress.js';
import { commandConfig, CONFIG_OPTION, defineCommand, numberInRange, UsageError } from './options.js';

const out = (lines: string[]) => process.stdout.write(`${lines.join('\n')}\n`);
const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** One progress bar per stage, made when the stage first reports. */
function stageProgress(): (stage: string, done: number, total: number, label: string) => void {
  let current: { stage: string; bar: ProgressBar } | undefined;
  return (stage, _done, total, label) => {
    if (current?.stage !== stage) {
      if (process.stderr.isTTY) process.stderr.write(`${stage}\n`);
      current = { stage, bar: new ProgressBar(total) };
    }
    current.bar.tick(label);
  };
}

async function evaluateVariant(config: Config, modelDir: string, variant: string | undefined, dataDir: string, outDir: string): Promise<EvaluationRun> {
  const classifier = await openClassifier(config, modelDir, variant);
  try {
    let progress: ProgressBar | undefined;
    const { report, samples } = await evaluate(classifier, dataDir, (_done, total, file) => {
      progress ??= new ProgressBar(total);
      progress.tick(path.basename(file));
    });
    const { model } = classifier.engine;
    const files = await writeReport(report, samples, outDir, model.manifest.labels);
    const { metrics } = report;
    out([
      `${model.variant === 'default' ? '' : `[${model.variant}] `}accuracy ${(metrics.accuracy * 100).toFixed(2)}% over ${metrics.count} images (${report.data.rejected.length} rejected)`,
      ...metrics.perClass.map(
        (c) => `  ${c.label.padEnd(12)} sensitivity ${(c.recall * 100).toFixed(1)}%  specificity ${(c.specificity * 100).toFixed(1)}%  AUC ${Number.isNaN(c.rocAuc) ? 'n/a' : c.rocAuc.toFixed(4)}`,
      ),
      `ECE ${metrics.expectedCalibrationError.toFixed(4)}; CAM localisation ${report.camLocalisation ? `${(report.camLocalisation.share * 100).toFixed(1)}%` : 'n/a'}`,
      ...(report.severity ? severitySummaryLines(report.severity) : []),
      `wrote ${files.join(', ')}`,
    ]);
    return { variant: model.variant, file: model.manifest.file, sha256: model.manifest.sha256, bytes: fs.statSync(model.onnxPath).size, report, samples };
  } finally {
    await classifier.engine.close();
  }
}

/**
 * The `--ood` part of `model evaluate`: every image of the sets' ood.csv through the real
 * pipeline; ood.{json,md,png} in `outDir`. A failing check is printed and returned: only
 * `--require-pass` makes it an exit status.
 */
async function evaluateOodSets(config: Config, modelDir: string, variant: string | undefined, setDirs: readonly string[], outDir: string): Promise<SafetyCheck[]> {
  const classifier = await openClassifier(config, modelDir, variant);
  try {
    let progress: ProgressBar | undefined;
    const report = await evaluateOod(classifier, setDirs, {
      limits: config.imaging,
      onProgress: (_done, total, file) => {
        progress ??= new ProgressBar(total);
        progress.tick(file);
      },
    });
    const files = await writeOodReport(report, outDir);
    out([...oodSummaryLines(report), `wrote ${files.join(', ')}`]);
    return report.checks.filter((check) => check.status === 'fail');
  } finally {
    await classifier.engine.close();
  }
}

/**
 * `cspine-edge model evaluate MODEL_DIR [--data DIR] [--ood DIR ...] [--require-pass] [--out DIR] [--variant V] [--compare V2]`.
 * --ood (repeatable): the OOD sets' report (ood.{json,md,png}) in --out, default MODEL_DIR/evaluation/ood/.
 * With --compare, both variants run on the same images and comparison.{json,md} says what
 * changed (top-1 agreement, accuracy and per-class sensitivity deltas, largest probability change).
 */
export async function modelEvaluateCommand(
  config: Config,
  options: {
    modelDir: string;
    dataDir?: string | undefined;
    oodDirs?: readonly string[] | undefined;
    outDir?: string | undefined;
    variant?: string | undefined;
    compare?: string | undefined;
    record?: boolean;
    /** A failed must-hold OOD check is an error (E_OOD_CHECKS_FAILED) once every report is written. */
    requirePass?: boolean;
  },
): Promise<number> {
  const modelDir = path.resolve(options.modelDir);
  const outDir = options.outDir ?? path.join(options.modelDir, 'evaluation');
  const variant = options.variant ?? config.model.variant;
  if (options.dataDir === undefined && !options.oodDirs?.length) throw new Error('model evaluate needs --data DIR or --ood DIR');
  const oodOutDir = options.outDir ?? path.join(options.modelDir, 'evaluation', 'ood');
  const failedChecks = options.oodDirs?.length ? await evaluateOodSets(config, modelDir, variant, options.oodDirs, oodOutDir) : [];
  if (options.dataDir !== undefined) await evaluateData(config, modelDir, variant, options.dataDir, outDir, options.compare, options.record ?? false);
  if (options.requirePass && failedChecks.length > 0) {
    throw new CspineError(
      ErrorCode.OOD_CHECKS_FAILED,
      `${modelDir} failed ${failedChecks.length} must-hold OOD check(s): ${failedChecks.map((check) => `${check.description} (${check.detail})`).join('; ')}. ` +
        `Do not ship this package; the report is ${path.join(oodOutDir, 'ood.md')}.`,
      { details: { failed: failedChecks.map((check) => check.id) } },
    );
  }
  return 0;
}

/** `--data` (and `--compare`, `--record`) of `model evaluate`. */
async function evaluateData(config: Config, modelDir: string, variant: string | undefined, dataDir: string, outDir: string, compare: string | undefined, record: boolean): Promise<void> {
  const candidate = await evaluateVariant(config, modelDir, variant, dataDir, outDir);
  if (compare === undefined) return;
  const reference = await evaluateVariant(config, modelDir, compare, dataDir, path.join(outDir, compare));
  const manifest = await readManifest(modelDir);
  const comparison = compareRuns(candidate, reference, manifest.labels);
  const files = writeComparison(comparison, outDir);
  out(['', comparisonMarkdown(comparison), `wrote ${files.join(', ')}`]);
  if (record) {
    // the held-out verification, in the manifest beside the training metrics
    const manifestPath = path.join(modelDir, MANIFEST_FILE);
    const json = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as ModelManifest;
    const summary = (run: EvaluationRun) => ({
      file: run.file,
      sha256: run.sha256,
      accuracy: run.report.metrics.accuracy,
      sensitivity: Object.fromEntries(run.report.metrics.perClass.map((c) => [c.label, c.recall])),
      specificity: Object.fromEntries(run.report.metrics.perClass.map((c) => [c.label, c.specificity])),
      camLocalisation: run.report.camLocalisation?.share ?? null,
    });
    json.evaluation = {
      ...(json.evaluation ?? {}),
      heldOut: {
        data: path.relative(process.cwd(), comparison.data.dir) || comparison.data.dir,
        images: comparison.data.images,
        date: candidate.report.date,
        [candidate.variant]: summary(candidate),
        [reference.variant]: summary(reference),
        comparison: {
          candidate: candidate.variant,
          reference: reference.variant,
          top1Agreement: comparison.top1Agreement,
          accuracyDelta: comparison.accuracy.delta,
          sensitivityDelta: Object.fromEntries(comparison.sensitivity.map((s) => [s.label, s.delta])),
          maxProbabilityDelta: comparison.maxProbabilityDelta,
          sizeRatio: comparison.sizeRatio,
        },
        report: path.relative(modelDir, path.resolve(outDir)) || '.',
      },
    };
    writeManifest(modelDir, json);
    out([`recorded the comparison in ${manifestPath} (evaluation.heldOut)`]);
  }
}

export interface QuantizeCommandOptions {
  input: string;
  calibrate: string;
  outDir: string;
  manifest?: string | undefined;
  count: number;
  check?: string | undefined;
  checkCount: number;
  method: 'auto' | CalibrationMethod;
  percentile: number;
  minAgreement: number;
  keepFloat: string[];
  cam: SharedWeightMode;
  activations: ActivationType;
}

/** `cspine-edge model quantize IN.onnx --calibrate DIR --out OUT_DIR [...]`. */
export async function modelQuantizeCommand(config: Config, options: QuantizeCommandOptions): Promise<number> {
  const manifestPath = options.manifest ?? path.join(path.dirname(options.input), MANIFEST_FILE);
  if (!fs.existsSync(manifestPath)) {
    throw new ModelError(
      ErrorCode.MODEL_NOT_FOUND,
      `no manifest for ${options.input}: looked for ${manifestPath}. The quantizer needs the model's preprocessing and outputs; pass --manifest FILE (docs/model-package.md)`,
    );
  }
  const manifest: ModelManifest = options.manifest
    ? manifestSchema.parse(JSON.parse(fs.readFileSync(manifestPath, 'utf8')))
    : await readManifest(path.dirname(options.input));
  const source = readOnnx(options.input);
  if (source.graph.node.some((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear' || n.opType === 'QLinearConv')) {
    throw new CspineError(ErrorCode.QUANT_UNSUPPORTED, `${options.input} is already quantized; give the fp32 model`);
  }
  const calibrationImages = sampleEvenly(listImages(options.calibrate), options.count);
  if (calibrationImages.length === 0) {
    throw new CspineError(ErrorCode.QUANT_NO_CALIBRATION_DATA, `no images in ${options.calibrate} (PNG, JPEG, TIFF or WebP, in labels.csv or anywhere below the folder)`);
  }
  const checkImages = options.check ? sampleEvenly(listImages(options.check), options.checkCount) : undefined;
  if (checkImages?.length === 0) throw new CspineError(ErrorCode.QUANT_NO_CALIBRATION_DATA, `no images in ${options.check}`);
  const methods = options.method === 'auto' ? CALIBRATION_METHODS : [options.method];
  const started = Date.now();
  const result = await quantizeModel({
    source,
    manifest,
    calibrationImages,
    ...(checkImages ? { checkImages } : {}),
    methods,
    percentile: options.percentile,
    agreementFloor: options.minAgreement,
    exclude: options.keepFloat,
    sharedWeightMatMul: options.cam,
    activationType: options.activations,
    threads: config.model.threads,
    onProgress: stageProgress(),
  });
  const fused = await optimizedOps(result.bytes, 1);
  const { manifest: written, files } = await writeQuantizedPackage({
    outDir: options.outDir,
    sourcePath: options.input,
    sourceManifest: manifest,
    result,
    ortOptimizedOps: fused,
    settings: {
      activationType: options.activations,
      cam: options.cam,
      percentile: result.method === 'percentile' ? options.percentile : undefined,
      methodChoice: options.method === 'auto' ? 'highest top-1 agreement with fp32 on the check images, then lowest mean probability change (within 10%: lowest CAM change)' : 'given',
      agreementFloor: options.minAgreement,
      calibration: { dir: options.calibrate, requested: options.count },
      check: options.check ? { dir: options.check } : { dir: options.calibrate },
      opset: defaultOpset(source),
      ortPlatform: `${os.platform()}-${process.arch}`,
    },
  });
  const sourceBytes = fs.statSync(options.input).size;
  const fusedList = ['QLinearConv', 'QGemm', 'QLinearMatMul', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul', 'MatMulInteger', 'QLinearAveragePool']
    .filter((op) => fused[op])
    .map((op) => `${op} ×${fused[op]}`);
  const floatLeft = ['Conv', 'Gemm', 'MatMul'].filter((op) => fused[op]).map((op) => `${op} ×${fused[op]}`);
  out([
    `calibrated on ${result.calibration.images} images${result.calibration.rejected ? ` (${result.calibration.rejected} undecodable skipped)` : ''}; compared with fp32 on ${result.check.images} ${result.check.sameAsCalibration ? 'of the same images' : `images from ${options.check}`}`,
    'method       top-1 agreement   max |Δp|   mean |Δp|   CAM max |Δ| (mean)   CAM same peak',
    ...result.candidates.map(
      (c) =>
        `${(c.method === result.method ? '* ' : '  ') + c.method.padEnd(11)}${pct(c.agreement).padStart(15)}   ${c.maxProbabilityDelta.toFixed(4).padStart(8)}   ${c.meanProbabilityDelta.toFixed(5).padStart(9)}   ${
          c.cam ? c.cam.meanMaxAbsDelta.toFixed(4).padStart(18) : 'n/a'.padStart(18)
        }   ${c.cam ? pct(c.cam.samePeak).padStart(13) : 'n/a'.padStart(13)}`,
    ),
    `int8 ${mb(result.bytes.length)} = ${((result.bytes.length / sourceBytes) * 100).toFixed(1)}% of fp32 (${mb(sourceBytes)})`,
    `ONNX Runtime's optimized graph (${os.platform()}-${process.arch}): ${fusedList.join(', ') || 'no integer kernels'}${floatLeft.length ? `; float ${floatLeft.join(', ')}` : ''}`,
    `kept in float: ${result.plan.float.length === 0 ? 'nothing that carries compute' : result.plan.float.map((f) => `${f.node} (${f.opType}: ${f.reason})`).join('; ')}`,
    ...(result.clampedBiases.length ? [`warning: int32 bias clamped for ${result.clampedBiases.join(', ')}`] : []),
    `wrote ${files.join(', ')} in ${((Date.now() - started) / 1000).toFixed(0)} s; default variant now ${defaultVariantName(written)}; the fp32 variant is made by: ${written.variants?.fp32?.rebuild}`,
  ]);
  return 0;
}

/** `cspine-edge model dequantize MODEL_DIR`: rebuilds the fp32 variant from the int8 file. */
export async function modelDequantizeCommand(options: { modelDir: string }): Promise<number> {
  const result = await rebuildFp32(path.resolve(options.modelDir));
  if (result.matches === false) {
    throw new ModelError(ErrorCode.MODEL_HASH_MISMATCH, `${result.file} was rebuilt but its SHA-256 ${result.sha256} differs from the manifest's; a different cspine-edge version wrote the manifest: quantize again or update variants.fp32.sha256 knowingly`);
  }
  out([`wrote ${result.file} (${mb(result.bytes)}, sha256 ${result.sha256.slice(0, 16)}…${result.matches ? ', matches the manifest' : ', added to the manifest'}); run it with model.variant: fp32`]);
  return 0;
}

/**
 * `cspine-edge model bench [MODEL_DIR ...] [--data DIR] [--runs N]`: every variant of the package
 * whose file is here, batch-1 latency side by side on this board, and which one to run. With
 * several packages or --data, {@link modelBenchCompare}.
 */
export async function modelBenchCommand(config: Config, options: { modelDirs: readonly string[]; runs: number; dataDir?: string | undefined }): Promise<number> {
  if (options.modelDirs.length > 1 || options.dataDir !== undefined) return modelBenchCompare(config, { ...options, modelDirs: options.modelDirs.length > 0 ? options.modelDirs : [path.join(config.model.dir, config.model.id)] });
  const modelDir = path.resolve(options.modelDirs[0] ?? path.join(config.model.dir, config.model.id));
  const { manifest, names, missing } = await presentVariants(modelDir);
  const rows: Array<{ name: string; latency: Latency; bytes: number }> = [];
  for (const name of names) {
    const pkg = await loadModelPackage(modelDir, name === 'default' ? undefined : name);
    const latency = await measureLatency(pkg.onnxPath, { inputName: manifest.input.name, shape: manifest.input.shape, runs: options.runs, warmup: 5, threads: config.model.threads });
    rows.push({ name, latency, bytes: fs.statSync(pkg.onnxPath).size });
  }
  const fastest = [...rows].sort((a, b) => a.latency.medianMs - b.latency.medianMs)[0]!;
  const current = config.model.variant ?? defaultVariantName(manifest);
  out([
    `${manifest.id} on ${os.cpus()[0]?.model ?? 'this CPU'} (${os.availableParallelism()} cores, ${process.arch}${isArm() ? ', session.qdqisint8allowed=1' : ''}), ${options.runs} runs after 5 warm-up, batch 1`,
    'variant   file                  size      load ms   median ms   p95 ms   vs fastest',
    ...rows.map(
      (r) =>
        `${r.name.padEnd(10)}${path.basename(manifest.variants?.[r.name]?.file ?? manifest.file).padEnd(22)}${mb(r.bytes).padStart(8)}${r.latency.loadMs.toFixed(0).padStart(10)}${r.latency.medianMs.toFixed(1).padStart(12)}${r.latency.p95Ms.toFixed(1).padStart(9)}${`${(r.latency.medianMs / fastest.latency.medianMs).toFixed(2)}×`.padStart(13)}`,
    ),
    ...missing.map((m) => `not here: ${m}`),
    fastest.name === current
      ? `the configured variant (${current}) is the fastest here: keep it`
      : `${fastest.name} is faster here than the configured ${current}: set model.variant: ${fastest.name} (CSPINE_MODEL__VARIANT=${fastest.name}) after checking its evaluation (docs/quantization.md)`,
  ]);
  return 0;
}

/** Variants of a package whose files are here, and a line for each that is not; E_MODEL_FILE_MISSING when none is. */
async function presentVariants(modelDir: string): Promise<{ manifest: ModelManifest; names: string[]; missing: string[] }> {
  const manifest = await readManifest(modelDir);
  const names: string[] = [];
  const missing: string[] = [];
  for (const [name, variant] of Object.entries(manifest.variants ?? { default: { file: manifest.file } })) {
    if (fs.existsSync(path.join(modelDir, variant.file))) names.push(name);
    else missing.push(`${name} (${'rebuild' in variant && variant.rebuild ? `make it with: ${variant.rebuild}` : 'file missing'})`);
  }
  if (names.length === 0) throw new ModelError(ErrorCode.MODEL_FILE_MISSING, `no variant of ${modelDir} is present: ${missing.join('; ')}`);
  return { manifest, names, missing };
}

/**
 * Several packages (and their variants) side by side: load time, latency and peak RSS, each
 * measured in a process that loads only that package; with --data, accuracy and injury
 * sensitivity through the whole pipeline; then which to run (compare.ts's rule).
 */
async function modelBenchCompare(config: Config, options: { modelDirs: readonly string[]; runs: number; dataDir?: string | undefined }): Promise<number> {
  const measure = { runs: options.runs, warmup: 5, threads: config.model.threads };
  const withAccuracy = options.dataDir !== undefined;
  const tables: string[][] = [];
  const rows: BenchRow[] = [];
  for (const dir of options.modelDirs.map((d) => path.resolve(d))) {
    const { manifest, names, missing } = await presentVariants(dir);
    const own: BenchRow[] = [];
    for (const name of names) {
      const variant = name === 'default' ? undefined : name;
      const row: BenchRow = { packageId: manifest.id, ...(await measureInChild(dir, variant, measure)) };
      if (options.dataDir !== undefined) row.accuracy = await benchAccuracy(config, dir, variant, options.dataDir);
      own.push(row);
    }
    rows.push(...own);
    tables.push(packageTable(`${manifest.id} (${path.relative(process.cwd(), dir) || '.'})`, own, missing, withAccuracy));
  }
  out([
    `${options.modelDirs.length} package(s) on ${os.cpus()[0]?.model ?? 'this CPU'} (${os.availableParallelism()} cores, ${process.arch}${isArm() ? ', session.qdqisint8allowed=1' : ''}), ${options.runs} runs after 5 warm-up, batch 1; peak RSS: VmHWM of a process that loads only that package and runs them`,
    ...(withAccuracy ? [`accuracy and injury sensitivity (fracture or dislocation called an injury of either kind): ${rows[0]!.accuracy!.images} images of ${options.dataDir} through the whole pipeline`] : []),
    ...tables.flatMap((table) => ['', ...table]),
    '',
    recommendationLine(recommend(rows), withAccuracy),
  ]);
  return 0;
}

async function benchAccuracy(config: Config, modelDir: string, variant: string | undefined, dataDir: string): Promise<Accuracy> {
  const classifier = await openClassifier(config, modelDir, variant);
  try {
    const { report } = await evaluate(classifier, dataDir);
    return accuracyOf(report.metrics, classifier.engine.model.manifest.labels);
  } finally {
    await classifier.engine.close();
  }
}

export const modelEvaluate = defineCommand({
  synopsis: `model evaluate MODEL_DIR --data DIR [--out DIR] [--variant V] [--compare V2 [--record]]
       cspine-edge model evaluate MODEL_DIR --ood DIR [--ood DIR2 ...] [--require-pass] [--data DIR] [--out DIR] [--variant V]`,
  about: `--data: accuracy, sensitivity, specificity, ROC AUC, calibration and CAM localisation on
labelled images; JSON + Markdown + PNG plots in --out (default MODEL_DIR/evaluation/). With
labels.csv's criterion_ratio (synth), also the lamps against severity in multiples of the
clinical criterion, per injury kind, and normals against their own variation (severity.png).
--ood: synth-ood sets (ood.csv): lamp per category, OOD detector AUROC and FPR at 95% TPR beside
the max-softmax baseline, must-hold checks; ood.json/md/png in --out (default
MODEL_DIR/evaluation/ood/); exit 0 even when a check fails (printed as FAIL), unless
--require-pass: then a failed check is E_OOD_CHECKS_FAILED (exit 1) once every report is written.`,
  operands: true,
  options: {
    data: { type: 'string' },
    ood: { type: 'string', multiple: true },
    out: { type: 'string' },
    variant: { type: 'string' },
    compare: { type: 'string' },
    record: { type: 'boolean', default: false },
    'require-pass': { type: 'boolean', default: false },
    ...CONFIG_OPTION,
  },
  optionHelp: `  --data DIR                labelled images (labels.csv or class folders)
  --ood DIR                 a synth-ood set (ood.csv); repeatable
  --require-pass            a failed must-hold OOD check fails the command (a package's acceptance)
  --out DIR                 where the report goes
  --variant V               the package variant to evaluate (default: model.variant)
  --compare V2              a second variant side by side on --data (agreement, deltas)
  --record                  that comparison into manifest.json (evaluation.heldOut)`,
  run: ({ values, positionals: [modelDir] }) => {
    if (modelDir === undefined || (values.data === undefined && values.ood === undefined)) {
      throw new UsageError('usage: model evaluate MODEL_DIR --data DIR [--out DIR] [--variant V] [--compare V2] | --ood DIR [--ood DIR2 ...] [--require-pass] [--out DIR]');
    }
    if (values.compare !== undefined && values.data === undefined) throw new UsageError('--compare compares variants on --data DIR; give --data too');
    if (values['require-pass'] && values.ood === undefined) throw new UsageError('--require-pass judges the must-hold checks of --ood DIR; give --ood too');
    return modelEvaluateCommand(commandConfig(values), {
      modelDir,
      dataDir: values.data,
      oodDirs: values.ood,
      outDir: values.out,
      variant: values.variant,
      compare: values.compare,
      record: values.record,
      requirePass: values['require-pass'],
    });
  },
});

const CALIBRATION_METHOD_CHOICES = ['auto', ...CALIBRATION_METHODS] as const;

export const modelQuantize = defineCommand({
  synopsis: `model quantize IN.onnx --calibrate DIR --out OUT_DIR [--manifest FILE] [--count 300]
                     [--check DIR] [--check-count 300] [--method auto|minmax|percentile|entropy]
                     [--percentile 99.999] [--min-agreement 0.99] [--keep-float NODE,...]
                     [--cam int8|float] [--activations uint8|int8]`,
  about: `A static INT8 (QDQ) model package from an fp32 ONNX model, calibrated on images; refuses
under the agreement floor, writing nothing (docs/quantization.md).`,
  operands: true,
  options: {
    calibrate: { type: 'string' },
    out: { type: 'string' },
    manifest: { type: 'string' },
    count: { type: 'string', default: '300' },
    check: { type: 'string' },
    'check-count': { type: 'string', default: '300' },
    method: { type: 'string', default: 'auto' },
    percentile: { type: 'string', default: '99.999' },
    'min-agreement': { type: 'string', default: '0.99' },
    'keep-float': { type: 'string', default: '' },
    cam: { type: 'string', default: 'int8' },
    activations: { type: 'string', default: 'uint8' },
    ...CONFIG_OPTION,
  },
  optionHelp: `  --calibrate DIR           calibration images
  --out OUT_DIR             where the package goes
  --manifest FILE           the fp32 model's manifest (default: manifest.json beside IN.onnx)
  --count N                 calibration images, spread evenly over the sorted list (default 300)
  --check DIR               images to compare with fp32 on (default: the calibration images)
  --check-count N           check images to use (default 300)
  --method M                minmax, percentile, entropy, or auto: all three, keeping the best
                            agreement with fp32 (default auto)
  --percentile P            for percentile: share of each activation's values inside its range
                            (default 99.999)
  --min-agreement A         top-1 agreement with fp32 below which nothing is written (default 0.99)
  --keep-float NODE,...     nodes (by name or output tensor) left in float
  --cam int8|float          the Grad-CAM gradient products: dynamic int8, or float (default int8)
  --activations uint8|int8  activation type (default uint8)`,
  run: ({ values, positionals: [input] }) => {
    if (input === undefined || values.calibrate === undefined || values.out === undefined) throw new UsageError('usage: model quantize IN.onnx --calibrate DIR --out OUT_DIR [options]');
    const method = values.method;
    if (!isOneOf(method, CALIBRATION_METHOD_CHOICES)) throw new UsageError(`--method must be auto, minmax, percentile or entropy, not "${method}"`);
    if (values.cam !== 'int8' && values.cam !== 'float') throw new UsageError(`--cam must be int8 or float, not "${values.cam}"`);
    if (values.activations !== 'uint8' && values.activations !== 'int8') throw new UsageError(`--activations must be uint8 or int8, not "${values.activations}"`);
    return modelQuantizeCommand(commandConfig(values), {
      input,
      calibrate: values.calibrate,
      outDir: values.out,
      manifest: values.manifest,
      count: numberInRange('count', values.count, 1, 100_000),
      check: values.check,
      checkCount: numberInRange('check-count', values['check-count'], 1, 100_000),
      method,
      percentile: numberInRange('percentile', values.percentile, 50, 100),
      minAgreement: numberInRange('min-agreement', values['min-agreement'], 0, 1),
      keepFloat: values['keep-float'].split(',').filter(Boolean),
      cam: values.cam === 'float' ? 'float' : 'int8-dynamic',
      activations: values.activations,
    });
  },
});

function isOneOf<T extends string>(value: string, choices: readonly T[]): value is T {
  return (choices as readonly string[]).includes(value);
}

const DEQUANTIZE_SYNOPSIS = 'model dequantize MODEL_DIR';

export const modelDequantize = defineCommand({
  synopsis: DEQUANTIZE_SYNOPSIS,
  about: "Rebuilds the package's fp32 variant from its int8 file, byte for byte the one the manifest names.",
  operands: true,
  options: {},
  run: ({ positionals: [modelDir] }) => {
    if (modelDir === undefined) throw new UsageError(`usage: ${DEQUANTIZE_SYNOPSIS}`);
    return modelDequantizeCommand({ modelDir });
  },
});

export const modelBench = defineCommand({
  synopsis: 'model bench [MODEL_DIR ...] [--data DIR] [--runs 50]',
  about: `INT8 vs fp32 latency on this board, and which variant to run (default MODEL_DIR: the configured
model's package). With several packages or --data: each package and variant with load time,
latency and peak RSS (a process of its own per package), accuracy and injury sensitivity on
--data, and which to run: never one with lower injury sensitivity, then the fastest, then the
one with the least memory (docs/quantization.md).`,
  operands: true,
  options: { runs: { type: 'string', default: '50' }, data: { type: 'string' }, ...CONFIG_OPTION },
  optionHelp: `  --runs N                  timed runs per variant after 5 warm-up (default 50)
  --data DIR                labelled images (labels.csv or class folders): accuracy and injury
                            sensitivity of each, which come first in the choice`,
  run: ({ values, positionals }) => modelBenchCommand(commandConfig(values), { modelDirs: positionals, runs: numberInRange('runs', values.runs, 1, 100_000), dataDir: values.data }),
});
