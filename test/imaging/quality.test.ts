import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { configSchema } from '../../src/config/schema.js';
import { ImageRejectedError } from '../../src/errors.js';
import { referenceImage } from '../../src/jobs/self-test.js';
import { decodeImage } from '../../src/imaging/decode.js';
import { assessQuality, requireQuality } from '../../src/imaging/quality.js';
import { generatePhantoms } from '../../src/tools/synth/generate.js';
import { rejectionTriage } from '../../src/triage/policy.js';
import { dicomFile } from '../../src/tools/fixtures/dicom.js';
import { FAIL_VARIANTS, loadGray, mapLevels, PASS_VARIANTS, png, rgbFile, viaSharp, type Gray } from '../../src/tools/fixtures/quality-images.js';

const LIMITS = { maxPixels: 64_000_000 };
/** The shipped defaults: what a device with no config file runs. */
const THRESHOLDS = (() => {
  const { enabled: _enabled, ...thresholds } = configSchema.parse({}).quality;
  return thresholds;
})();

let made: Promise<Gray[]> | undefined;
const madeIn = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-quality-'));
test.after.always(() => fs.rmSync(madeIn, { recursive: true, force: true }));

/** Phantoms as `cspine-edge synth` writes them, made once: three 8-bit 256×320 (one per class) and one 16-bit 1024×1280. */
function phantoms(): Promise<Gray[]> {
  made ??= (async () => {
    await generatePhantoms({ outDir: path.join(madeIn, '8'), count: 3, seed: 31 });
    await generatePhantoms({ outDir: path.join(madeIn, '16'), count: 1, seed: 32, width: 1024, height: 1280, bits: 16 });
    const files = ['8/normal/phantom-000000.png', '8/fracture/phantom-000001.png', '8/dislocation/phantom-000002.png', '16/normal/phantom-000000.png'];
    return Promise.all(files.map(async (file) => loadGray(fs.readFileSync(path.join(madeIn, file)))));
  })();
  return made;
}

async function verdictOf(bytes: Buffer) {
  return assessQuality(await decodeImage(bytes, LIMITS), THRESHOLDS);
}

test('phantoms and their ordinary acquisition shifts pass, 8-bit and 16-bit', async (t) => {
  const frames = await phantoms();
  t.deepEqual(
    frames.map((frame) => frame.bits),
    [8, 8, 8, 16],
  );
  for (const [index, phantom] of frames.entries()) {
    for (const variant of PASS_VARIANTS) {
      const verdict = await verdictOf(await variant.make(phantom, index + 1));
      t.true(verdict.ok, `${phantom.bits}-bit phantom ${index}, ${variant.name}: ${verdict.ok ? '' : verdict.reason}`);
    }
  }
});

test('each failure kind is refused with its code, 8-bit and 16-bit', async (t) => {
  const frames = await phantoms();
  for (const [index, phantom] of frames.entries()) {
    for (const variant of FAIL_VARIANTS) {
      if (variant.bits !== undefined && variant.bits !== phantom.bits) continue;
      const verdict = await verdictOf(await variant.make(phantom, index + 1));
      const what = `${phantom.bits}-bit phantom ${index}, ${variant.name}`;
      if (verdict.ok) {
        t.fail(`${what} passed: ${JSON.stringify(verdict.measures)}`);
        continue;
      }
      if (variant.expect !== 'refuse') t.is(verdict.code as string, variant.expect as string, `${what}: ${verdict.reason}`);
      t.true(verdict.reason.length > 20);
    }
  }
});

test('a colour PNG is refused; the same picture as gray saved in RGB (R=G=B) passes', async (t) => {
  const [phantom] = await phantoms();
  const full = 255;
  const level = (i: number) => phantom!.pixels[i]! / full;
  const gray = await rgbFile(phantom!.width, phantom!.height, (i) => [level(i), level(i), level(i)]);
  const colour = await rgbFile(phantom!.width, phantom!.height, (i) => [level(i), level(i) * 0.6, 1 - level(i)]);

  const decodedGray = await decodeImage(gray, LIMITS);
  t.is(decodedGray.colourfulness, 0);
  t.true(assessQuality(decodedGray, THRESHOLDS).ok);

  const decodedColour = await decodeImage(colour, LIMITS);
  t.true(decodedColour.colourfulness! > 0.3, `colourfulness ${decodedColour.colourfulness}`);
  const verdict = assessQuality(decodedColour, THRESHOLDS);
  t.like(verdict, { ok: false, code: 'E_QUALITY_COLOUR' });
  // Gray files carry no chroma to measure: 0, not absent.
  t.is((await decodeImage(await png(phantom!), LIMITS)).colourfulness, 0);
});

test('requireQuality throws ImageRejectedError naming the measure and its threshold', async (t) => {
  const black = await decodeImage(await png({ width: 1024, height: 1280, bits: 8, pixels: new Uint8Array(1024 * 1280) }), LIMITS);
  const error = t.throws(() => requireQuality(black, THRESHOLDS), { instanceOf: ImageRejectedError });
  t.is(error?.code, 'E_QUALITY_BLANK');
  t.regex(error?.message ?? '', /blank or uniform frame: .*span 0\.0% .*quality\.blankMaxRange/);
  t.like(error?.details, { quality: { width: 1024, height: 1280, dynamicRange: 0, clippedLow: 1 } });

  const [phantom] = await phantoms();
  const tiny = await decodeImage(await png(await viaSharp(phantom!, (image) => image.resize(40, 50))), LIMITS);
  t.throws(() => requireQuality(tiny, THRESHOLDS), { instanceOf: ImageRejectedError, message: new RegExp(`40×50 px.*at least ${THRESHOLDS.minSidePx} px.*quality\\.minSidePx`) });

  const reference = await decodeImage(await referenceImage(), LIMITS);
  const measures = requireQuality(reference, THRESHOLDS);
  t.is(measures.width, 320);
});

test('the self-test reference image passes, so the default gate never faults the device', async (t) => {
  const verdict = await verdictOf(await referenceImage());
  t.true(verdict.ok, verdict.ok ? '' : verdict.reason);
});

test('DX DICOM files whose pixels are all 0 or all saturated are blank; the header facts stay with the refusal', async (t) => {
  const rows = 256;
  const columns = 200;
  const common = { rows, columns, bitsStored: 12, bodyPart: 'CSPINE', viewPosition: 'LL' };
  const zeros = await decodeImage(dicomFile({ ...common, pixels: new Uint16Array(rows * columns) }), LIMITS);
  const saturated = await decodeImage(dicomFile({ ...common, pixels: new Uint16Array(rows * columns).fill(4095), window: { center: 2048, width: 4096 } }), LIMITS);
  for (const image of [zeros, saturated]) {
    const error = t.throws(() => requireQuality(image, THRESHOLDS), { instanceOf: ImageRejectedError });
    t.is(error?.code, 'E_QUALITY_BLANK');
    t.like(error?.details, { dicom: { attributes: { modality: 'DX', bodyPartExamined: 'CSPINE' } } });
  }
  t.is(zeros.pixels[0], 0);
  t.is(saturated.pixels[0], 65535);

  // The same object with an image in it passes.
  const pixels = new Uint16Array(rows * columns);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(4095 * (0.2 + 0.6 * Math.sin((i % columns) / 17) ** 2 * ((Math.floor(i / columns) / rows) * 0.8 + 0.2)));
  t.true(assessQuality(await decodeImage(dicomFile({ ...common, pixels }), LIMITS), THRESHOLDS).ok);
});

test('a brighter copy of a uniform frame is still blank; one with a picture in it is not', async (t) => {
  const flat = mapLevels({ width: 300, height: 300, bits: 16, pixels: new Uint16Array(300 * 300).fill(20000) }, (v) => v * 1.3);
  t.like(await verdictOf(await png(flat)), { ok: false, code: 'E_QUALITY_BLANK' });
  const picture = mapLevels(flat, (_, i) => 0.1 + 0.8 * ((i % 300) / 300) * (Math.floor(i / 300) / 300));
  t.true((await verdictOf(await png(picture))).ok);
});

test('quality codes light AMBER with a "retake" reason naming the problem; other codes are unchanged', (t) => {
  t.deepEqual(rejectionTriage('E_QUALITY_BLANK'), { level: 'AMBER', reason: 'retake — blank or uniform frame' });
  t.deepEqual(rejectionTriage('E_QUALITY_SATURATED'), { level: 'AMBER', reason: 'retake — saturated / over-exposed' });
  t.deepEqual(rejectionTriage('E_QUALITY_LOW_CONTRAST'), { level: 'AMBER', reason: 'retake — too little contrast' });
  t.deepEqual(rejectionTriage('E_QUALITY_COLOUR'), { level: 'AMBER', reason: 'retake — colour photograph, not a radiograph' });
  t.deepEqual(rejectionTriage('E_QUALITY_TOO_SMALL'), { level: 'AMBER', reason: 'retake — image too small' });
  t.deepEqual(rejectionTriage('E_NOT_AN_IMAGE'), { level: 'AMBER', reason: 'unreadable image — retake' });
  t.deepEqual(rejectionTriage('E_INFERENCE_FAILED'), { level: 'AMBER', reason: 'processing error (E_INFERENCE_FAILED) — review' });
});
