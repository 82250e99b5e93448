import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { CspineError, ErrorCode, ModelError, toCspineError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import type { SelfTestReference } from '../model/manifest.js';
import type { Classification, Classifier } from '../pipeline/classifier.js';
import type { Db } from '../store/database.js';
import type { TriageLevel } from '../triage/policy.js';

export interface ReferenceResult {
  /** As in the manifest: `reference/<name>`. */
  file: string;
  level: TriageLevel;
  label: string;
  /** The largest difference from a recorded probability. */
  maxDelta: number;
}

export interface SelfTestResult {
  /** `baseline`: first run for this model file, probabilities recorded for later runs. */
  status: 'baseline' | 'pass';
  maxDelta: number;
  probabilities: Record<string, number>;
  /** Each of the package's reference images (manifest `selfTest`), all passed; empty when it has none. */
  references: ReferenceResult[];
}

let reference: Promise<Buffer> | undefined;

/**
 * A fixed synthetic radiograph-like image (no patient data), the same bytes on every device and
 * every run: a soft vertical gradient with a bright column and rings.
 */
export function referenceImage(): Promise<Buffer> {
  reference ??= (() => {
    const width = 320;
    const height = 400;
    const pixels = new Uint16Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const column = Math.exp(-(((x - width * 0.55) / 40) ** 2));
        const rings = 0.5 + 0.5 * Math.sin(y / 9);
        pixels[y * width + x] = Math.round(65535 * Math.min(1, 0.15 + 0.25 * (y / height) + 0.5 * column * rings));
      }
    }
    return sharp(pixels, { raw: { width, height, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  })();
  return reference;
}

const largestDifference = (got: Record<string, number>, expected: Record<string, number>): number =>
  Math.max(...Object.keys(expected).map((label) => Math.abs((got[label] ?? Number.NaN) - expected[label]!)));

/** Reads a reference image of the package, refusing one that is not the file its manifest names. */
function readReference(dir: string, reference: SelfTestReference): Buffer {
  const file = path.join(dir, reference.file);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new ModelError(ErrorCode.MODEL_FILE_MISSING, `self-test reference ${file} named by the manifest cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
  const actual = sha256Hex(bytes);
  if (actual !== reference.sha256) {
    throw new ModelError(ErrorCode.MODEL_HASH_MISMATCH, `self-test reference ${file} has SHA-256 ${actual} but its manifest says ${reference.sha256}: the file is corrupt or was replaced`);
  }
  return bytes;
}

/** Classifies it as the service would; an image the pipeline now refuses fails the self-test. */
async function classifyReference(classifier: Classifier, reference: SelfTestReference, bytes: Buffer): Promise<Classification> {
  try {
    return await classifier.classify(bytes);
  } catch (error) {
    const problem = toCspineError(error);
    throw new CspineError(ErrorCode.SELF_TEST_FAILED, `self-test: reference ${reference.file} was rejected (${problem.code}: ${problem.message}); expected ${reference.expected.level} ${reference.expected.label}`, {
      cause: error,
    });
  }
}

/**
 * The package's reference images (manifest `selfTest`) through the whole pipeline: each must
 * give the lamp and the label its manifest expects, every probability within the manifest's
 * tolerance. Throws E_SELF_TEST_FAILED naming the first that does not (E_MODEL_HASH_MISMATCH /
 * E_MODEL_FILE_MISSING for a reference file that is not the one the manifest names).
 */
export async function checkReferences(classifier: Classifier): Promise<ReferenceResult[]> {
  const { dir, manifest } = classifier.engine.model;
  if (!manifest.selfTest) return [];
  const { tolerance, references } = manifest.selfTest;
  const results: ReferenceResult[] = [];
  for (const reference of references) {
    const got = await classifyReference(classifier, reference, readReference(dir, reference));
    const { expected } = reference;
    const maxDelta = largestDifference(got.probabilities, expected.probabilities);
    if (got.triage.level !== expected.level || got.label !== expected.label || !(maxDelta <= tolerance)) {
      throw new CspineError(
        ErrorCode.SELF_TEST_FAILED,
        `self-test: reference ${reference.file} gives ${got.triage.level} ${got.label} ${JSON.stringify(got.probabilities)}, expected ${expected.level} ${expected.label} ${JSON.stringify(expected.probabilities)} (largest probability difference ${maxDelta.toFixed(6)}, tolerance ${tolerance})`,
        { details: { reference: reference.file, expected, got: { level: got.triage.level, label: got.label, probabilities: got.probabilities } } },
      );
    }
    results.push({ file: reference.file, level: got.triage.level, label: got.label, maxDelta });
  }
  return results;
}

/**
 * Checks the package's reference images ({@link checkReferences}), then classifies the fixed
 * image and compares with the first answer this model file gave on this device. A drift beyond
 * `tolerance` (a damaged runtime, a corrupted memory, a model swapped under the same name)
 * throws E_SELF_TEST_FAILED. Nothing is recorded when a reference fails.
 */
export async function runSelfTest(classifier: Classifier, db: Db, tolerance: number): Promise<SelfTestResult> {
  const references = await checkReferences(classifier);
  const { probabilities } = await classifier.classify(await referenceImage());
  const modelSha256 = classifier.engine.model.manifest.sha256;
  const row = db.prepare('SELECT probabilities FROM self_test_baselines WHERE model_sha256 = ?').get(modelSha256) as { probabilities: string } | undefined;
  if (!row) {
    db.prepare('INSERT INTO self_test_baselines (model_sha256, probabilities, created_at) VALUES (?, ?, ?)').run(
      modelSha256,
      JSON.stringify(probabilities),
      new Date().toISOString(),
    );
    return { status: 'baseline', maxDelta: 0, probabilities, references };
  }
  const expected = JSON.parse(row.probabilities) as Record<string, number>;
  const maxDelta = largestDifference(probabilities, expected);
  if (!(maxDelta <= tolerance)) {
    throw new CspineError(
      ErrorCode.SELF_TEST_FAILED,
      `self-test: the reference image now gives ${JSON.stringify(probabilities)}, expected ${JSON.stringify(expected)} (largest difference ${maxDelta.toFixed(6)} > tolerance ${tolerance})`,
    );
  }
  return { status: 'pass', maxDelta, probabilities, references };
}
