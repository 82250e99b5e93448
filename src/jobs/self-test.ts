import sharp from 'sharp';
import { CspineError, ErrorCode } from '../errors.js';
import type { Classifier } from '../pipeline/classifier.js';
import type { Db } from '../store/database.js';

export interface SelfTestResult {
  /** `baseline`: first run for this model file, probabilities recorded for later runs. */
  status: 'baseline' | 'pass';
  maxDelta: number;
  probabilities: Record<string, number>;
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

/**
 * Classifies the reference image and compares with the first answer this model file gave on
 * this device. A drift beyond `tolerance` (a damaged runtime, a corrupted memory, a model
 * swapped under the same name) throws E_SELF_TEST_FAILED.
 */
export async function runSelfTest(classifier: Classifier, db: Db, tolerance: number): Promise<SelfTestResult> {
  const { probabilities } = await classifier.classify(await referenceImage());
  const modelSha256 = classifier.engine.model.manifest.sha256;
  const row = db.prepare('SELECT probabilities FROM self_test_baselines WHERE model_sha256 = ?').get(modelSha256) as { probabilities: string } | undefined;
  if (!row) {
    db.prepare('INSERT INTO self_test_baselines (model_sha256, probabilities, created_at) VALUES (?, ?, ?)').run(
      modelSha256,
      JSON.stringify(probabilities),
      new Date().toISOString(),
    );
    return { status: 'baseline', maxDelta: 0, probabilities };
  }
  const expected = JSON.parse(row.probabilities) as Record<string, number>;
  const maxDelta = Math.max(...Object.keys(expected).map((label) => Math.abs((probabilities[label] ?? Number.NaN) - expected[label]!)));
  if (!(maxDelta <= tolerance)) {
    throw new CspineError(
      ErrorCode.SELF_TEST_FAILED,
      `self-test: the reference image now gives ${JSON.stringify(probabilities)}, expected ${JSON.stringify(expected)} (largest difference ${maxDelta.toFixed(6)} > tolerance ${tolerance})`,
    );
  }
  return { status: 'pass', maxDelta, probabilities };
}
