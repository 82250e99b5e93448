import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { decodeImage } from '../imaging/decode.js';
import { preprocessImage } from '../imaging/preprocess.js';
import { sha256File, sha256Hex } from '../hash.js';
import { InferenceEngine } from '../model/inference.js';
import { MANIFEST_FILE, manifestSchema, type ModelManifest, type OodSpec } from '../model/manifest.js';
import { loadModelPackage, writeManifest } from '../model/model-package.js';
import { encodeOodStatistics } from '../model/ood.js';
import { addFeaturesOutput, calibrateOod, FEATURES_OUTPUT, type CalibrationSample } from '../tools/ood-calibrate.js';
import { readOnnx, writeOnnx } from '../model/onnx-io.js';
import { fp32Bytes } from '../tools/quantize/package.js';
import { listImages, sampleEvenly } from '../tools/quantize/quantize.js';
import { ProgressBar } from '../ui/progress.js';
import { VERSION } from '../version.js';
import { commandConfig, CONFIG_OPTION, defineCommand, numberInRange, UsageError } from './options.js';

export interface OodCalibrateOptions {
  modelDir: string;
  /** Folders of in-distribution images: the training data (labels.csv or class folders). */
  dataDirs: string[];
  count: number;
  components: number;
  /** Share (percent) of calibration images each threshold keeps inside. */
  percentile: number;
}

const STATS_FILE = 'ood.bin';

/**
 * Every variant file on disk gets the `features` output (same name in each), and the manifest
 * their new hashes; so does the fp32 rebuild of the int8 file. Other variants not on disk keep
 * their entries: make them again, then run this again.
 */
async function addFeaturesToPackage(modelDir: string, manifest: ModelManifest): Promise<{ manifest: ModelManifest; source: string; missing: string[] }> {
  const files = new Set([manifest.file, ...Object.values(manifest.variants ?? {}).map((variant) => variant.file)]);
  const hashes = new Map<string, { sha256: string; bytes: number }>();
  let source = '';
  const missing: string[] = [];
  for (const file of files) {
    const onnxPath = path.join(modelDir, file);
    if (!fs.existsSync(onnxPath)) {
      missing.push(file);
      continue;
    }
    const model = readOnnx(onnxPath);
    const from = addFeaturesOutput(model);
    if (file === manifest.file) source = from;
    const bytes = writeOnnx(onnxPath, model);
    hashes.set(file, { sha256: await sha256File(onnxPath), bytes });
  }
  const main = hashes.get(manifest.file);
  if (!main) throw new Error(`${path.join(modelDir, manifest.file)} (the package's default model file) is missing`);
  // The fp32 variant is rebuilt from the int8 file by `model dequantize`, deterministically:
  // its new hash is known without writing 230 MB that is not kept in git.
  const fp32 = manifest.variants?.fp32;
  if (fp32 && missing.includes(fp32.file) && fp32.rebuild?.includes('model dequantize')) {
    const bytes = fp32Bytes(fs.readFileSync(path.join(modelDir, manifest.variants?.int8?.file ?? manifest.file)));
    hashes.set(fp32.file, { sha256: sha256Hex(Buffer.from(bytes)), bytes: bytes.length });
    missing.splice(missing.indexOf(fp32.file), 1);
  }
  const variants = manifest.variants
    ? Object.fromEntries(Object.entries(manifest.variants).map(([name, variant]) => [name, { ...variant, ...(hashes.get(variant.file) ?? {}) }]))
    : undefined;
  const updated = { ...manifest, sha256: main.sha256, outputs: { ...manifest.outputs, features: FEATURES_OUTPUT }, ...(variants ? { variants } : {}) };
  return { manifest: updated, source, missing };
}

/** `cspine-edge model ood-calibrate MODEL_DIR --data DIR[,DIR...]`: see docs/safety.md. */
export async function modelOodCalibrateCommand(config: Config, options: OodCalibrateOptions): Promise<number> {
  const started = Date.now();
  const modelDir = path.resolve(options.modelDir);
  const manifestPath = path.join(modelDir, MANIFEST_FILE);
  let json = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as ModelManifest;
  let featureSource = (json.ood?.provenance?.featureSource as string | undefined) ?? '';
  if (!json.outputs.features) {
    const added = await addFeaturesToPackage(modelDir, manifestSchema.parse(json));
    json = { ...added.manifest };
    featureSource = added.source;
    delete json.ood;
    writeManifest(modelDir, json);
    process.stdout.write(`added the "${FEATURES_OUTPUT}" output (${featureSource}) to ${json.file}${added.missing.length ? `; not on disk, make again and re-run: ${added.missing.join(', ')}` : ''}\n`);
  }

  const files = sampleEvenly(
    options.dataDirs.flatMap((dir) => listImages(dir)),
    options.count,
  );
  if (files.length === 0) throw new Error(`no images in ${options.dataDirs.join(', ')}`);
  const pkg = await loadModelPackage(modelDir);
  const engine = await InferenceEngine.open(pkg, config.model);
  const samples: CalibrationSample[] = [];
  const skipped: string[] = [];
  try {
    const progress = new ProgressBar(files.length);
    for (const file of files) {
      try {
        const image = await decodeImage(await fs.promises.readFile(file), config.imaging);
        const { logits, features } = await engine.infer(await preprocessImage(image, pkg.manifest));
        samples.push({ logits, features: Float32Array.from(features!) });
      } catch (error) {
        skipped.push(`${file}: ${(error as Error).message}`);
      }
      progress.tick(path.basename(file));
    }
  } finally {
    await engine.close();
  }
  for (const line of skipped) process.stderr.write(`skipped ${line}\n`);
  if (process.stderr.isTTY) process.stderr.write('principal subspace\n');
  const subspaceProgress = new ProgressBar(5);
  const calibration = calibrateOod(samples, {
    components: options.components,
    percentile: options.percentile,
    temperature: pkg.manifest.calibration.temperature,
    onProgress: () => subspaceProgress.tick('subspace iteration'),
  });

  const statsPath = path.join(modelDir, STATS_FILE);
  const tmp = `${statsPath}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, encodeOodStatistics(calibration.statistics));
  fs.renameSync(tmp, statsPath);
  const ood: OodSpec = {
    method: 'msp+pca-residual',
    statsFile: STATS_FILE,
    statsSha256: await sha256File(statsPath),
    featureDim: calibration.statistics.mean.length,
    components: options.components,
    thresholds: calibration.thresholds,
    inDistributionPercentile: options.percentile,
    provenance: {
      tool: `cspine-edge ${VERSION} model ood-calibrate`,
      date: new Date().toISOString(),
      featureSource,
      data: options.dataDirs.map((dir) => path.relative(process.cwd(), path.resolve(dir)) || dir),
      images: samples.length,
      skipped: skipped.length,
      calibrationInsideShare: Math.round(calibration.insideShare * 1e4) / 1e4,
    },
  };
  writeManifest(modelDir, { ...json, ood });
  process.stdout.write(
    [
      `OOD statistics for ${json.id} from ${samples.length} images (${skipped.length} skipped) in ${((Date.now() - started) / 1000).toFixed(0)} s:`,
      `  ${ood.components} principal components of ${ood.featureDim} features (${featureSource}); ${statsPath} (${(fs.statSync(statsPath).size / 1e6).toFixed(1)} MB)`,
      `  thresholds at the ${options.percentile}th percentile: confidence deficit ${calibration.thresholds.confidence.toExponential(3)}, residual ${calibration.thresholds.residual.toFixed(3)}`,
      `  ${(calibration.insideShare * 100).toFixed(2)}% of the calibration images inside both; check unfamiliar inputs with: cspine-edge model evaluate ${options.modelDir} --ood DIR`,
      `wrote ${manifestPath} (ood)`,
    ].join('\n') + '\n',
  );
  return 0;
}

const OOD_CALIBRATE_SYNOPSIS = 'model ood-calibrate MODEL_DIR --data DIR[,DIR...] [--count 3000] [--components 128] [--in-distribution 99.5]';

export const modelOodCalibrate = defineCommand({
  synopsis: OOD_CALIBRATE_SYNOPSIS,
  about: 'An out-of-distribution detector from training images: adds the features output, writes ood.bin and the manifest\'s ood (docs/safety.md).',
  operands: true,
  options: {
    data: { type: 'string' },
    count: { type: 'string', default: '3000' },
    components: { type: 'string', default: '128' },
    'in-distribution': { type: 'string', default: '99.5' },
    ...CONFIG_OPTION,
  },
  optionHelp: `  --data DIR[,DIR...]       in-distribution images: the training data (labels.csv or class folders)
  --count N                 images to calibrate on (default 3000)
  --components K            principal components of the features (default 128)
  --in-distribution P       percent of calibration images each threshold keeps inside (default 99.5)`,
  run: ({ values, positionals: [modelDir] }) => {
    if (modelDir === undefined || values.data === undefined) throw new UsageError(`usage: ${OOD_CALIBRATE_SYNOPSIS}`);
    return modelOodCalibrateCommand(commandConfig(values), {
      modelDir,
      dataDirs: values.data.split(',').filter(Boolean),
      count: numberInRange('count', values.count, 1, 1_000_000),
      components: numberInRange('components', values.components, 1, 4096),
      percentile: numberInRange('in-distribution', values['in-distribution'], 50.01, 100),
    });
  },
});
