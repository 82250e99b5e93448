/**
 * `model quantize`: calibrate on images, build the QDQ int8 model for each calibration method,
 * compare each with fp32 on the check images, keep the best, and refuse it when it agrees with
 * fp32 less often than the floor.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { CspineError, ErrorCode, ImageRejectedError, ModelError } from '../../errors.js';
import { decodeImage } from '../../imaging/decode.js';
import { preprocessImage } from '../../imaging/preprocess.js';
import { softmax, sessionOptions } from '../../model/inference.js';
import type { ModelManifest } from '../../model/manifest.js';
import { bypassConstantIdentities, bypassIdentityPools, countOps, decodeOnnx, defaultOpset, encodeOnnx, proto, type ModelProto } from '../../model/onnx-io.js';
import { CALIBRATION_METHODS, rangeFor, TensorStats, type CalibrationMethod } from './calibrate.js';
import { planQuantization, type QuantPlan, type SharedWeightMode } from './plan.js';
import { buildQdqModel, type ActivationParams, type ActivationType, type Range } from './qdq.js';

export interface QuantizeRequest {
  source: ModelProto;
  manifest: Pick<ModelManifest, 'input' | 'preprocess' | 'outputs' | 'calibration'>;
  calibrationImages: string[];
  /** Images the candidates are compared with fp32 on; default the calibration images. */
  checkImages?: string[];
  methods: readonly CalibrationMethod[];
  percentile: number;
  /** Minimum top-1 agreement with fp32 on the check images (0..1). */
  agreementFloor: number;
  exclude?: readonly string[];
  activationType?: ActivationType;
  sharedWeightMatMul?: SharedWeightMode;
  threads?: number;
  onProgress?: (stage: string, done: number, total: number, label: string) => void;
}

export interface Agreement {
  images: number;
  /** Share of images where int8 and fp32 give the same top-1 class. */
  agreement: number;
  disagreements: number;
  /** Largest and mean |p_int8 − p_fp32| over classes and images (softmax with the manifest's temperature). */
  maxProbabilityDelta: number;
  meanProbabilityDelta: number;
  /** CAM (max-normalised maps): mean and worst max |Δ|, and the share of maps peaking in the same cell. */
  cam: { meanMaxAbsDelta: number; worstMaxAbsDelta: number; samePeak: number } | null;
}

export interface Candidate extends Agreement {
  method: CalibrationMethod;
}

export interface QuantizeResult {
  bytes: Uint8Array;
  method: CalibrationMethod;
  candidates: Candidate[];
  chosen: Candidate;
  plan: QuantPlan;
  activations: Record<string, ActivationParams>;
  clampedBiases: string[];
  calibration: { images: number; rejected: number };
  check: { images: number; rejected: number; sameAsCalibration: boolean };
}

const IMAGE = /\.(png|jpe?g|tiff?|webp)$/i;

/** Image files under `dir`: labels.csv's `file` column when present, else every image, recursively; sorted. */
export function listImages(dir: string): string[] {
  const csv = path.join(dir, 'labels.csv');
  if (fs.existsSync(csv)) {
    const [header, ...rows] = fs.readFileSync(csv, 'utf8').trim().split(/\r?\n/);
    const column = header!.split(',').indexOf('file');
    if (column >= 0) return rows.map((row) => path.join(dir, row.split(',')[column]!)).sort();
  }
  const found: string[] = [];
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (IMAGE.test(entry.name)) found.push(full);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return found.sort();
}

/** `count` files spread evenly over the sorted list (so every class folder is represented). */
export function sampleEvenly<T>(items: readonly T[], count: number): T[] {
  if (count >= items.length) return [...items];
  return Array.from({ length: count }, (_, i) => items[Math.floor((i * items.length) / count)]!);
}

async function loadTensors(files: readonly string[], manifest: QuantizeRequest['manifest'], report: (done: number, total: number, label: string) => void): Promise<{ tensors: Float32Array[]; rejected: number }> {
  const tensors: Float32Array[] = [];
  let rejected = 0;
  for (const [i, file] of files.entries()) {
    try {
      const image = await decodeImage(await fs.promises.readFile(file), { maxPixels: 64_000_000 });
      tensors.push(await preprocessImage(image, manifest));
    } catch (error) {
      if (!(error instanceof ImageRejectedError) && (error as NodeJS.ErrnoException).code === undefined) throw error;
      rejected++;
    }
    report(i + 1, files.length, path.basename(file));
  }
  return { tensors, rejected };
}

interface Outputs {
  logits: Float32Array;
  cam?: Float32Array;
}

async function createSession(bytes: Uint8Array, threads: number, extra: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes, sessionOptions(threads, extra));
  } catch (error) {
    throw new ModelError(ErrorCode.MODEL_LOAD_FAILED, `ONNX Runtime cannot load the model: ${(error as Error).message}`, { cause: error });
  }
}

function withExtraOutputs(source: ModelProto, names: readonly string[]): Uint8Array {
  const graph = source.graph!;
  const existing = new Set(graph.output.map((o) => o.name));
  const extra = names.filter((name) => !existing.has(name)).map((name) => ({ name, type: { tensorType: { elemType: proto.TensorProto.DataType.FLOAT } } }));
  return encodeOnnx({ ...source, graph: { ...graph, output: [...graph.output, ...extra] } });
}

export async function quantizeModel(request: QuantizeRequest): Promise<QuantizeResult> {
  const { manifest } = request;
  const source = bypassIdentityPools(bypassConstantIdentities(request.source));
  const threads = request.threads ?? 0;
  const progress = request.onProgress ?? (() => undefined);
  if (defaultOpset(source) < 13) {
    throw new CspineError(ErrorCode.QUANT_UNSUPPORTED, `the model uses ONNX opset ${defaultOpset(source)}; per-channel QDQ needs opset 13 or later: export it again with a newer opset (scripts/train/export.py --opset 17)`);
  }
  const plan = planQuantization(source.graph!, { exclude: request.exclude ?? [], sharedWeightMatMul: request.sharedWeightMatMul ?? 'int8-dynamic' });
  if (plan.roles.size === 0) throw new CspineError(ErrorCode.QUANT_UNSUPPORTED, 'nothing to quantize: no Conv, Gemm or MatMul with a constant float weight');
  const inputName = manifest.input.name;
  if (!source.graph!.input.some((i) => i.name === inputName)) throw new ModelError(ErrorCode.MODEL_INTERFACE_MISMATCH, `the model has no input "${inputName}" (the manifest's input.name)`);

  const calibrationFiles = request.calibrationImages;
  const checkFiles = request.checkImages ?? calibrationFiles;
  const sameAsCalibration = checkFiles === calibrationFiles;
  if (calibrationFiles.length === 0) throw new CspineError(ErrorCode.QUANT_NO_CALIBRATION_DATA, 'no calibration images (PNG, JPEG, TIFF or WebP) found');
  const calibration = await loadTensors(calibrationFiles, manifest, (done, total, label) => progress('decode calibration images', done, total, label));
  const check = sameAsCalibration ? calibration : await loadTensors(checkFiles, manifest, (done, total, label) => progress('decode check images', done, total, label));
  if (calibration.tensors.length === 0) throw new CspineError(ErrorCode.QUANT_NO_CALIBRATION_DATA, `none of the ${calibrationFiles.length} calibration files could be decoded`);
  if (check.tensors.length === 0) throw new CspineError(ErrorCode.QUANT_NO_CALIBRATION_DATA, `none of the ${checkFiles.length} check files could be decoded`);

  // ---- calibration: fp32 with the tensors to quantize as extra outputs
  const dims = [...manifest.input.shape];
  const fetchOutputs = [manifest.outputs.logits, ...(manifest.outputs.cam ? [manifest.outputs.cam] : [])];
  const calibrationSession = await createSession(withExtraOutputs(source, plan.calibrate), threads, { graphOptimizationLevel: 'basic' });
  const stats = new Map(plan.calibrate.map((name) => [name, new TensorStats()]));
  const reference: Outputs[] = [];
  try {
    const needsHistogram = request.methods.some((m) => m !== 'minmax');
    const passes = needsHistogram ? 2 : 1;
    for (let pass = 0; pass < passes; pass++) {
      for (const [i, tensor] of calibration.tensors.entries()) {
        const result = await calibrationSession.run({ [inputName]: new ort.Tensor('float32', tensor, dims) }, [...new Set([...plan.calibrate, ...fetchOutputs])]);
        for (const [name, s] of stats) {
          const data = result[name]!.data as Float32Array;
          if (pass === 0) s.observeRange(data);
          else s.observeHistogram(data);
        }
        if (pass === 0 && sameAsCalibration) reference.push(pick(result, manifest.outputs));
        progress(`calibrate (pass ${pass + 1}/${passes})`, i + 1, calibration.tensors.length, '');
      }
    }
    if (!sameAsCalibration) {
      for (const [i, tensor] of check.tensors.entries()) {
        reference.push(pick(await calibrationSession.run({ [inputName]: new ort.Tensor('float32', tensor, dims) }, fetchOutputs), manifest.outputs));
        progress('fp32 on check images', i + 1, check.tensors.length, '');
      }
    }
  } finally {
    await calibrationSession.release();
  }

  // ---- one candidate per method, compared with fp32 on the check images
  const candidates: Array<Candidate & { bytes: Uint8Array; activations: Record<string, ActivationParams>; clampedBiases: string[] }> = [];
  for (const method of request.methods) {
    const ranges = new Map<string, Range>([...stats].map(([name, s]) => [name, rangeFor(s, method, { percentile: request.percentile })]));
    const built = buildQdqModel(source, plan, ranges, { activationType: request.activationType ?? 'uint8', metadata: { method, ...(method === 'percentile' ? { percentile: request.percentile } : {}) } });
    const bytes = encodeOnnx(built.model);
    const session = await createSession(bytes, threads);
    const outputs: Outputs[] = [];
    try {
      for (const [i, tensor] of check.tensors.entries()) {
        outputs.push(pick(await session.run({ [inputName]: new ort.Tensor('float32', tensor, dims) }, fetchOutputs), manifest.outputs));
        progress(`int8 (${method}) vs fp32`, i + 1, check.tensors.length, '');
      }
    } finally {
      await session.release();
    }
    candidates.push({ method, ...compareOutputs(reference, outputs, manifest.calibration.temperature), bytes, activations: built.activations, clampedBiases: built.clampedBiases });
  }
  const chosen = [...candidates].sort(rankCandidates)[0]!;
  const summary = candidates.map(({ bytes: _b, activations: _a, clampedBiases: _c, ...rest }) => rest);
  const chosenSummary = summary.find((c) => c.method === chosen.method)!;
  if (chosen.agreement < request.agreementFloor) {
    throw new CspineError(
      ErrorCode.QUANT_AGREEMENT_TOO_LOW,
      `the int8 model agrees with fp32 on ${(chosen.agreement * 100).toFixed(2)}% of ${chosen.images} check images (best method: ${chosen.method}), under the floor of ${(request.agreementFloor * 100).toFixed(2)}%; ` +
        'nothing was written. Calibrate on more (or more typical) images, keep the worst layers in float (--keep-float NODE), or lower --min-agreement knowingly.',
      { details: { candidates: summary } },
    );
  }
  return {
    bytes: chosen.bytes,
    method: chosen.method,
    candidates: summary,
    chosen: chosenSummary,
    plan,
    activations: chosen.activations,
    clampedBiases: chosen.clampedBiases,
    calibration: { images: calibration.tensors.length, rejected: calibration.rejected },
    check: { images: check.tensors.length, rejected: check.rejected, sameAsCalibration },
  };
}

/**
 * Best first: highest top-1 agreement; then the smaller mean probability change, unless the two
 * are within 10% of each other, when the smaller CAM change decides.
 */
export function rankCandidates(a: Agreement, b: Agreement): number {
  if (a.agreement !== b.agreement) return b.agreement - a.agreement;
  const close = Math.abs(a.meanProbabilityDelta - b.meanProbabilityDelta) <= 0.1 * Math.max(a.meanProbabilityDelta, b.meanProbabilityDelta);
  if (!close || !a.cam || !b.cam) return a.meanProbabilityDelta - b.meanProbabilityDelta;
  return a.cam.meanMaxAbsDelta - b.cam.meanMaxAbsDelta;
}

function pick(result: ort.InferenceSession.ReturnType, outputs: QuantizeRequest['manifest']['outputs']): Outputs {
  const logits = Float32Array.from(result[outputs.logits]!.data as Float32Array);
  return outputs.cam ? { logits, cam: Float32Array.from(result[outputs.cam]!.data as Float32Array) } : { logits };
}

const argmax = (values: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
};

export function compareOutputs(reference: readonly Outputs[], candidate: readonly Outputs[], temperature = 1): Agreement {
  let same = 0;
  let maxDelta = 0;
  let sumDelta = 0;
  let deltas = 0;
  let camSum = 0;
  let camWorst = 0;
  let camSamePeak = 0;
  let cams = 0;
  for (const [i, ref] of reference.entries()) {
    const out = candidate[i]!;
    if (argmax(ref.logits) === argmax(out.logits)) same++;
    const p = softmax(Array.from(ref.logits), temperature);
    const q = softmax(Array.from(out.logits), temperature);
    for (let k = 0; k < p.length; k++) {
      const d = Math.abs(p[k]! - q[k]!);
      maxDelta = Math.max(maxDelta, d);
      sumDelta += d;
      deltas++;
    }
    if (ref.cam && out.cam) {
      let worst = 0;
      for (let k = 0; k < ref.cam.length; k++) worst = Math.max(worst, Math.abs(ref.cam[k]! - out.cam[k]!));
      camSum += worst;
      camWorst = Math.max(camWorst, worst);
      if (argmax(ref.cam) === argmax(out.cam)) camSamePeak++;
      cams++;
    }
  }
  return {
    images: reference.length,
    agreement: reference.length === 0 ? 0 : same / reference.length,
    disagreements: reference.length - same,
    maxProbabilityDelta: maxDelta,
    meanProbabilityDelta: deltas === 0 ? 0 : sumDelta / deltas,
    cam: cams === 0 ? null : { meanMaxAbsDelta: camSum / cams, worstMaxAbsDelta: camWorst, samePeak: camSamePeak / cams },
  };
}

/** Op types in ONNX Runtime's optimized graph of `bytes` (what actually runs), via optimizedModelFilePath. */
export async function optimizedOps(bytes: Uint8Array, threads = 1): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-ort-opt-'));
  const file = path.join(dir, 'optimized.onnx');
  try {
    const session = await createSession(bytes, threads, { optimizedModelFilePath: file, logSeverityLevel: 3 });
    await session.release();
    return countOps(decodeOnnx(fs.readFileSync(file), 'ORT optimized model'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export { CALIBRATION_METHODS };
