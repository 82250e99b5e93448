/**
 * Decoding at the model's resolution (imaging.dicomDecode 'model', docs/dicom.md): JPEG 2000
 * drops wavelet levels exactly as OpenJPEG's own tool does, lossy JPEG scales its IDCT, every
 * other syntax is box-averaged while it is rendered, and none of it changes what the lamp says
 * on held-out phantoms in any syntax. Size checks keep using the file's size.
 */
import path from 'node:path';
import test from 'ava';
import { configSchema } from '../../src/config/schema.js';
import { decodeImage } from '../../src/imaging/decode.js';
import { j2kDecompositionLevels } from '../../src/imaging/dicom/codecs.js';
import { readDicomFrame } from '../../src/imaging/dicom/decoder.js';
import { renderGrayBoxed } from '../../src/imaging/dicom/box-render.js';
import { renderGray, type PixelLayout, type PixelTransforms } from '../../src/imaging/dicom/pixels.js';
import { boxFactor, reductionSteps } from '../../src/imaging/dicom/resolution.js';
import { decodeLimitsFor } from '../../src/imaging/model-resolution.js';
import { readManifest } from '../../src/model/model-package.js';
import { assessQuality } from '../../src/imaging/quality.js';
import type { Classifier } from '../../src/pipeline/classifier.js';
import { openClassifier } from '../../src/pipeline/open-classifier.js';
import { compareReadings, phantomInEverySyntax, readAt } from '../../src/tools/fixtures/dicom-agreement.js';
import { dicomFile, openJpegCodestream, openJpegDecompress, pattern, SYNTAX_TOOLS, TS } from '../../src/tools/fixtures/dicom.js';
import { haveTools } from '../helpers/dicom.js';

const config = configSchema.parse({ model: { dir: path.resolve('models') } });
const FULL = { maxPixels: config.imaging.maxPixels };
const { input } = await readManifest(path.resolve('models/cspine-alexnet-demo'));
const MODEL = decodeLimitsFor(config.imaging, input);

let classifier: Classifier | undefined;
test.after.always(async () => classifier?.engine.close());

test('the model resolution keeps the short side at the 224-px input plus 10%; "full" never reduces', (t) => {
  t.is(MODEL.minShortSide, 247);
  t.deepEqual(decodeLimitsFor({ ...config.imaging, dicomDecode: 'full' }, input), FULL);
  t.is(reductionSteps(2500, 2000, 247, 5), 3); // 250×313
  t.is(reductionSteps(2500, 2000, 251, 5), 2); // 500×625
  t.is(reductionSteps(1280, 1024, 247, 5), 2); // 256×320
  t.is(reductionSteps(2500, 2000, 247, 1), 1, 'never more than the codestream has');
  t.is(reductionSteps(300, 300, 247, 5), 0);
  t.is(reductionSteps(2500, 2000, undefined, 5), 0);
  t.is(boxFactor(2500, 2000, 247), 8); // 250×313
  t.is(boxFactor(1280, 1024, 247), 4); // 256×320
  t.is(boxFactor(3000, 2400, 247), 9); // 267×334
  t.is(boxFactor(300, 300, 247), 1);
  t.is(boxFactor(2500, 2000, undefined), 1);
});

test('a frame decoded in full is rendered and box-averaged in one pass: each block the mean of renderGray’s pixels, edge blocks of what they have', (t) => {
  const rows = 23;
  const columns = 17;
  const raw = pattern(rows, columns, 12, 5);
  const layout: PixelLayout = { rows, columns, bitsAllocated: 16, bitsStored: 12, highBit: 11, pixelRepresentation: 0, photometric: 'MONOCHROME1' };
  // A narrow window: clipping acts per pixel before the average, as it does at full size.
  const transforms: PixelTransforms = { modality: { kind: 'rescale', slope: 1, intercept: 0 }, voi: { kind: 'window', center: 1500, width: 800, fn: 'LINEAR' }, notes: [] };
  const full = renderGray(raw, layout, transforms);
  const boxed = renderGrayBoxed(raw, layout, transforms, 5);
  t.deepEqual([boxed.columns, boxed.rows], [4, 5]);
  for (let by = 0; by < boxed.rows; by++) {
    for (let bx = 0; bx < boxed.columns; bx++) {
      let sum = 0;
      let n = 0;
      for (let y = by * 5; y < Math.min(rows, by * 5 + 5); y++) {
        for (let x = bx * 5; x < Math.min(columns, bx * 5 + 5); x++, n++) sum += full[y * columns + x]!;
      }
      t.is(boxed.pixels[by * boxed.columns + bx], Math.round(sum / n), `block ${bx},${by}`);
    }
  }
});

test('a box-averaged uncompressed frame keeps the file’s size for the quality gate and the record', async (t) => {
  const rows = 1280;
  const columns = 1024;
  const file = dicomFile({ rows, columns, bitsStored: 12, pixels: pattern(rows, columns, 12, 2) });
  const image = await decodeImage(file, MODEL);
  t.deepEqual([image.width, image.height, image.fullSize], [256, 320, { width: columns, height: rows }]);
  const full = await decodeImage(file, FULL);
  t.deepEqual([full.width, full.height, full.fullSize], [columns, rows, undefined]);
  const { enabled: _enabled, ...thresholds } = config.quality;
  t.deepEqual(
    [assessQuality(image, { ...thresholds, minSidePx: 1000 }).ok, assessQuality(image, { ...thresholds, minSidePx: 1100 }).ok],
    [true, false],
    'minSidePx judges 1024 px, not 256',
  );
});

test('JPEG 2000 at a reduced level: bit-exact against opj_decompress -r, full size in the header', async (t) => {
  if (!haveTools(t, 'opj_compress', 'opj_decompress')) return;
  const rows = 1100;
  const columns = 1000;
  const source = pattern(rows, columns, 12, 7);
  for (const ratio of [undefined, 10]) {
    const { codestream } = openJpegCodestream(source, rows, columns, 12, ratio ? { ratio } : {});
    t.is(j2kDecompositionLevels(codestream), 5, 'opj_compress makes 6 resolutions');
    const file = dicomFile({ rows, columns, bitsStored: 12, fragments: [codestream], transferSyntax: ratio ? TS.j2k : TS.j2kLossless });
    const frame = await readDicomFrame(file, MODEL);
    const reference = openJpegDecompress(codestream, 2);
    t.deepEqual([frame.layout.columns, frame.layout.rows], [reference.width, reference.height]);
    t.deepEqual([frame.layout.columns, frame.layout.rows], [250, 275]);
    t.deepEqual(frame.fullSize, { width: columns, height: rows });
    t.deepEqual(Buffer.from(frame.raw.buffer, frame.raw.byteOffset, frame.raw.byteLength), Buffer.from(reference.samples.buffer));
  }
});

test('quality measures and the classification report the file’s size; quality.minSidePx judges that size', async (t) => {
  if (!haveTools(t, 'opj_compress')) return;
  const { files } = phantomInEverySyntax(0, 1024, 1280);
  const j2k = files.find((file) => file.uid === TS.j2kLossless)!;
  const image = await decodeImage(j2k.bytes, MODEL);
  t.deepEqual([image.width, image.height, image.fullSize], [256, 320, { width: 1024, height: 1280 }]);
  const { enabled: _enabled, ...thresholds } = config.quality;
  const verdict = assessQuality(image, { ...thresholds, minSidePx: 600 });
  t.true(verdict.ok, 'a 1024-px radiograph is not too small because it was decoded at 256 px');
  t.deepEqual([verdict.measures.width, verdict.measures.height], [1024, 1280]);
  t.true(verdict.measures.fieldWidth > 256 && verdict.measures.fieldWidth <= 1024, `field ${verdict.measures.fieldWidth} px, in the file's pixels`);
  t.is(assessQuality(image, { ...thresholds, minSidePx: 1100 }).ok, false);
});

test('held-out phantoms in every syntax: the same quality verdict, label, lamp and OOD verdict at model and at full resolution, probabilities within 0.02', async (t) => {
  if (!haveTools(t, ...SYNTAX_TOOLS)) return;
  classifier = await openClassifier(config);
  const byCodec = new Set<string>([TS.jpegBaseline, TS.jpegExtended, TS.j2kLossless, TS.j2k]);
  let largestDelta = 0;
  for (const index of [0, 1, 2]) {
    const { label, files } = phantomInEverySyntax(index, 1024, 1280);
    for (const file of files) {
      const what = `${label} phantom ${index}, ${file.name}`;
      const full = await readAt(classifier, config.quality, file.bytes, FULL);
      const model = await readAt(classifier, config.quality, file.bytes, MODEL);
      const { maxProbabilityDelta, differences } = compareReadings(full, model);
      t.deepEqual(differences, [], what);
      largestDelta = Math.max(largestDelta, maxProbabilityDelta);
      t.true(maxProbabilityDelta <= 0.02, `${what}: probabilities differ by ${maxProbabilityDelta.toFixed(4)}`);
      t.is(full.quality, 'ok', `${what}: the phantom passes the quality gate`);
      t.deepEqual(full.decoded, { width: 1024, height: 1280 }, `${what}: full resolution`);
      // Halved by the codec (JPEG 2000 levels, JPEG IDCT scaling: 1024 → 256) or averaged in 4×4 boxes: 256×320 either way.
      t.deepEqual(model.decoded, { width: 256, height: 320 }, `${what}: decoded at ${model.decoded.width}×${model.decoded.height}${byCodec.has(file.uid) ? ' by the codec' : ', box-averaged'}`);
    }
  }
  t.log(`largest probability difference: ${largestDelta.toFixed(4)}`);
});
