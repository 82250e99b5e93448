/** The int8 model package `model quantize` writes, and the fp32 variant `model dequantize` rebuilds. */
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, ModelError } from '../../errors.js';
import { sha256File, sha256Hex } from '../../hash.js';
import { VERSION } from '../../version.js';
import { MANIFEST_FILE, type ModelManifest, type ModelVariant } from '../../model/manifest.js';
import { readManifest, writeManifest } from '../../model/model-package.js';
import { decodeOnnx, encodeOnnx, readOnnx } from '../../model/onnx-io.js';
import { dequantizeModel, isQuantizedByUs } from './dequantize.js';
import type { QuantizeResult } from './quantize.js';

export const INT8_FILE = 'model.int8.onnx';
export const FP32_FILE = 'model.fp32.onnx';

const display = (dir: string) => {
  const relative = path.relative(process.cwd(), dir);
  return relative && !relative.startsWith('..') ? relative : dir;
};

export const dequantizeCommandFor = (dir: string) => `npx cspine-edge model dequantize ${display(dir)}`;

/** The fp32 variant's bytes for an int8 model (deterministic). */
export function fp32Bytes(int8: Uint8Array): Uint8Array {
  return encodeOnnx(dequantizeModel(decodeOnnx(int8, 'int8 model')));
}

export interface WriteOptions {
  outDir: string;
  sourcePath: string;
  sourceManifest: ModelManifest;
  result: QuantizeResult;
  settings: Record<string, unknown>;
  ortOptimizedOps: Record<string, number>;
}

export async function writeQuantizedPackage(options: WriteOptions): Promise<{ manifest: ModelManifest; files: string[] }> {
  const { outDir, result } = options;
  fs.mkdirSync(outDir, { recursive: true });
  const int8Path = path.join(outDir, INT8_FILE);
  const tmp = `${int8Path}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, result.bytes);
  fs.renameSync(tmp, int8Path);
  const int8Sha = sha256Hex(Buffer.from(result.bytes));
  const fp32 = fp32Bytes(result.bytes);
  const sourceSha = await sha256File(options.sourcePath);
  const sourceBytes = fs.statSync(options.sourcePath).size;
  const sourceInPackage = path.resolve(path.dirname(options.sourcePath)) === path.resolve(outDir);

  const variants: Record<string, ModelVariant> = {
    int8: {
      file: INT8_FILE,
      sha256: int8Sha,
      bytes: result.bytes.length,
      precision: 'int8',
      description: 'static QDQ int8 (cspine-edge model quantize); the default',
    },
    fp32: {
      file: FP32_FILE,
      sha256: sha256Hex(Buffer.from(fp32)),
      bytes: fp32.length,
      precision: 'fp32',
      description: 'the int8 weights in float, float activations: for CPUs where float kernels are faster (Raspberry Pi 4); not in git',
      rebuild: dequantizeCommandFor(outDir),
    },
    ...(sourceInPackage
      ? {
          export: {
            file: path.basename(options.sourcePath),
            sha256: sourceSha,
            bytes: sourceBytes,
            precision: 'fp32' as const,
            description: 'the fp32 export the int8 model was calibrated and verified against (scripts/train/export.py); not in git',
            rebuild: 'python3 scripts/train/export.py --run RUN_DIR --out MODEL_DIR (needs the training run; docs/training.md)',
          },
        }
      : {}),
  };
  const { plan } = result;
  const manifest: ModelManifest = {
    ...options.sourceManifest,
    file: INT8_FILE,
    sha256: int8Sha,
    variants,
    quantization: {
      tool: `cspine-edge ${VERSION} model quantize`,
      date: new Date().toISOString(),
      source: { file: path.basename(options.sourcePath), sha256: sourceSha, bytes: sourceBytes },
      format: 'ONNX QDQ, opset ≥ 13',
      weights: 'int8 symmetric per output channel (scale = max|w|/127), Conv/Gemm/MatMul',
      bias: 'int32, scale = input scale × weight scale',
      activations: `${options.settings.activationType ?? 'uint8'} asymmetric per tensor, static (calibrated)`,
      method: result.method,
      ...options.settings,
      calibration: { ...(options.settings.calibration as object), images: result.calibration.images, rejected: result.calibration.rejected },
      check: {
        ...(options.settings.check as object),
        sameAsCalibration: result.check.sameAsCalibration,
        ...result.chosen,
      },
      candidates: result.candidates,
      keptFloat: plan.float,
      camMatMul: [...plan.roles.values()].some((r) => r.kind === 'matmul-folded')
        ? `the Grad-CAM MatMuls against the classifier weights reuse their int8 data (row scales moved onto the gradient) with ${options.settings.cam === 'float' ? 'float' : 'dynamic per-inference int8'} gradients`
        : undefined,
      clampedBiases: result.clampedBiases,
      activationParams: result.activations,
      ortOptimizedOps: options.ortOptimizedOps,
    },
  };
  return { manifest: writeManifest(outDir, manifest), files: [int8Path, path.join(outDir, MANIFEST_FILE)] };
}

/** `model dequantize DIR`: writes the fp32 variant next to the int8 one and checks its sha256. */
export async function rebuildFp32(dir: string): Promise<{ file: string; sha256: string; matches: boolean | null; bytes: number }> {
  const manifest = await readManifest(dir);
  const int8 = manifest.variants?.int8 ?? { file: manifest.file, sha256: manifest.sha256 };
  const int8Path = path.join(dir, int8.file);
  const actual = await sha256File(int8Path).catch((error: unknown) => {
    throw new ModelError(ErrorCode.MODEL_FILE_MISSING, `cannot read ${int8Path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  });
  if (actual !== int8.sha256) throw new ModelError(ErrorCode.MODEL_HASH_MISMATCH, `${int8Path} has SHA-256 ${actual} but the manifest says ${int8.sha256}`);
  const model = readOnnx(int8Path);
  if (!isQuantizedByUs(model)) throw new ModelError(ErrorCode.MODEL_ONNX_INVALID, `${int8Path} was not written by cspine-edge model quantize; nothing to dequantize`);
  const bytes = encodeOnnx(dequantizeModel(model));
  const sha256 = sha256Hex(Buffer.from(bytes));
  const target = manifest.variants?.fp32;
  const file = path.join(dir, target?.file ?? FP32_FILE);
  fs.writeFileSync(`${file}.tmp-${process.pid}`, bytes);
  fs.renameSync(`${file}.tmp-${process.pid}`, file);
  if (!target) {
    const updated = { ...manifest, variants: { ...(manifest.variants ?? {}), fp32: { file: FP32_FILE, sha256, bytes: bytes.length, precision: 'fp32' as const, rebuild: dequantizeCommandFor(dir) } } };
    writeManifest(dir, updated);
  }
  return { file, sha256, matches: target ? target.sha256 === sha256 : null, bytes: bytes.length };
}
