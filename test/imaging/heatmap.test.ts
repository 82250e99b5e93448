import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { activationPeak, heatmapOverlay } from '../../src/imaging/heatmap.js';
import { openClassifier } from '../../src/pipeline/open-classifier.js';
import { configSchema } from '../../src/config/schema.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { configEnv, tempDir, workspace } from '../helpers/fixtures.js';
import { brightnessModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';

/** 400×200 dark image with a bright 60×60 square centred at (300, 60): not square, so letterboxed. */
async function spotImage(): Promise<Buffer> {
  const width = 400;
  const height = 200;
  const pixels = Buffer.alloc(width * height, 40);
  for (let y = 30; y < 90; y++) for (let x = 270; x < 330; x++) pixels[y * width + x] = 250;
  return sharp(pixels, { raw: { width, height, channels: 1 } }).png().toBuffer();
}

function camPackage(t: import('ava').ExecutionContext, resize: 'letterbox' | 'stretch' | 'center-crop') {
  const models = tempDir(t);
  writeModelPackage(models, { id: 'cam', onnx: brightnessModel(32, 3, { cam: true }), size: 32, overrides: { outputs: { logits: 'logits', cam: 'cam' }, preprocess: { resize, mean: [0], std: [1] } } });
  // A bright square on a flat frame: the quality gate would rightly refuse it as too small a field.
  return configSchema.parse({ model: { dir: models, id: 'cam', threads: 1 }, quality: { enabled: false } });
}

for (const resize of ['letterbox', 'stretch', 'center-crop'] as const) {
  test(`the CAM peak maps back onto the image through ${resize}`, async (t) => {
    const classifier = await openClassifier(camPackage(t, resize));
    t.teardown(() => classifier.engine.close());
    const result = await classifier.classify(await spotImage());
    t.truthy(result.cam);
    t.is(result.cam!.width, 32);
    const peak = activationPeak(result.cam!, classifier.engine.model.manifest, 400, 200);
    // One CAM cell is 12.5 image pixels here (6.25 × 12.5 when stretched): the peak lands in the square.
    t.true(peak.x >= 270 && peak.x < 330 && peak.y >= 30 && peak.y < 90, `peak at ${peak.x.toFixed(1)}, ${peak.y.toFixed(1)}`);
  });
}

test('the overlay is the radiograph with colour over the activation and gray elsewhere', async (t) => {
  const classifier = await openClassifier(camPackage(t, 'letterbox'));
  t.teardown(() => classifier.engine.close());
  const result = await classifier.classify(await spotImage());
  // Lossless, to check the drawing pixel by pixel; the default encoding is JPEG.
  const png = await heatmapOverlay(result.decoded, result.cam!, classifier.engine.model.manifest, { format: 'png' });
  t.is((await sharp(await heatmapOverlay(result.decoded, result.cam!, classifier.engine.model.manifest)).metadata()).format, 'jpeg');
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  t.deepEqual([info.width, info.height, info.channels], [400, 200, 3]);
  const at = (x: number, y: number) => [...data.subarray((y * 400 + x) * 3, (y * 400 + x) * 3 + 3)];
  const [r, , b] = at(300, 60);
  t.true(r! > 200 && r! - b! > 100, `hot spot is red: ${at(300, 60)}`);
  const [r2, g2, b2] = at(50, 150);
  t.true(Math.abs(r2! - g2!) < 12 && Math.abs(g2! - b2!) < 40, `cold area stays near gray: ${at(50, 150)}`);
});

test('classify --heatmap writes an overlay per image and names it in the JSON line', async (t) => {
  const { root, config } = workspace(t);
  writeModelPackage(config.model.dir, { id: 'cam', onnx: brightnessModel(32, 3, { cam: true }), size: 32, overrides: { outputs: { logits: 'logits', cam: 'cam' } } });
  const file = path.join(root, 'spot.png');
  fs.writeFileSync(file, await spotImage());
  const out = path.join(root, 'heatmaps');
  const run = await runCli(['classify', file, '--json', '--heatmap', out], { ...configEnv(config), CSPINE_MODEL__ID: 'cam' });
  t.is(run.code, 0, run.stderr);
  const [line] = jsonLines(run.stdout);
  t.is(line!.heatmap, path.join(out, 'spot.heatmap.jpg'));
  t.is((await sharp(path.join(out, 'spot.heatmap.jpg')).metadata()).width, 400);
});
