import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { readDataset } from '../../../src/tools/evaluate/evaluate.js';
import { jsonLines, runCli } from '../../helpers/cli.js';
import { grayImage } from '../../../src/tools/fixtures/images.js';
import { configEnv, workspace } from '../../helpers/fixtures.js';
import { brightnessModel, writeModelPackage } from '../../../src/tools/fixtures/onnx-models.js';

/**
 * Class folders for the brightness model: 4 normal (bright), 3 fracture (mid gray, one of
 * them too bright so it is called normal), 3 dislocation (dark).
 */
async function dataset(root: string): Promise<string> {
  const dir = path.join(root, 'eval');
  const plan: Array<[string, number]> = [
    ['normal', 230], ['normal', 232], ['normal', 234], ['normal', 236],
    ['fracture', 115], ['fracture', 117], ['fracture', 228],
    ['dislocation', 30], ['dislocation', 32], ['dislocation', 34],
  ];
  for (const [i, [label, brightness]] of plan.entries()) {
    fs.mkdirSync(path.join(dir, label), { recursive: true });
    fs.writeFileSync(path.join(dir, label, `case${i}.png`), await grayImage(brightness, { seed: i }));
  }
  fs.writeFileSync(path.join(dir, 'normal', 'notes.txt'), 'ignored: not an image');
  return dir;
}

test('model evaluate writes the metrics a person checks, as JSON, Markdown and plots', async (t) => {
  const { root, config } = workspace(t);
  const data = await dataset(root);
  const out = path.join(root, 'report');
  const modelDir = path.join(config.model.dir, config.model.id);
  const run = await runCli(['model', 'evaluate', modelDir, '--data', data, '--out', out], configEnv(config));
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /accuracy 90\.00% over 10 images/);

  const report = JSON.parse(fs.readFileSync(path.join(out, 'evaluation.json'), 'utf8'));
  t.deepEqual(report.metrics.confusion, [[4, 0, 0], [1, 2, 0], [0, 0, 3]]);
  t.is(report.metrics.accuracy, 0.9);
  const fracture = report.metrics.perClass[1];
  t.is(fracture.recall, 2 / 3);
  t.is(fracture.specificity, 1);
  t.deepEqual(report.triage.fracture, { GREEN: 1, AMBER: 0, RED: 2 }, 'the missed fracture was shown GREEN: the report makes that visible');
  t.is(report.camLocalisation, null, 'the brightness model has no CAM output');
  t.true(report.metrics.perClass.every((c: { rocAuc: number }) => c.rocAuc >= 0.5 && c.rocAuc <= 1));

  const markdown = fs.readFileSync(path.join(out, 'evaluation.md'), 'utf8');
  t.regex(markdown, /\*\*Accuracy 90\.0%\*\*/);
  t.regex(markdown, /\| fracture \| 1 \| 0 \| 2 \|/);
  for (const [file, width] of [['confusion-matrix.png', 520], ['roc.png', 750]] as const) {
    const meta = await sharp(path.join(out, file)).metadata();
    t.is(meta.format, 'png');
    t.is(meta.width, width);
  }
});

test('labels.csv, with boxes, is read in preference to folders', (t) => {
  const { root } = workspace(t);
  fs.writeFileSync(path.join(root, 'labels.csv'), 'file,label,group,seed,vertebra,kind,severity,box_x,box_y,box_w,box_h\na.png,normal,1,1,,none,,,,,\nb.png,fracture,2,1,C5,wedge,0.4,10,20,30,40\n');
  t.deepEqual(readDataset(root, ['normal', 'fracture', 'dislocation']), [
    { file: path.join(root, 'a.png'), label: 'normal' },
    { file: path.join(root, 'b.png'), label: 'fracture', box: { x: 10, y: 20, width: 30, height: 40 } },
  ]);
});

test('evaluation with a CAM model reports localisation on the labelled boxes', async (t) => {
  const { root, config } = workspace(t);
  writeModelPackage(config.model.dir, { id: 'cam', onnx: brightnessModel(32, 3, { cam: true }), size: 32, overrides: { outputs: { logits: 'logits', cam: 'cam' } } });
  // Mid-gray "fracture" images with one bright block; the box is right for two, wrong for one.
  const lines = ['file,label,box_x,box_y,box_w,box_h'];
  for (const [i, boxX] of [[0, 150], [1, 150], [2, 20]] as const) {
    const pixels = Buffer.alloc(200 * 200, 110);
    for (let y = 80; y < 120; y++) for (let x = 150; x < 190; x++) pixels[y * 200 + x] = 255;
    fs.writeFileSync(path.join(root, `f${i}.png`), await sharp(pixels, { raw: { width: 200, height: 200, channels: 1 } }).png().toBuffer());
    lines.push(`f${i}.png,fracture,${boxX},80,40,40`);
  }
  fs.writeFileSync(path.join(root, 'labels.csv'), `${lines.join('\n')}\n`);
  const run = await runCli(['model', 'evaluate', path.join(config.model.dir, 'cam'), '--data', root, '--out', path.join(root, 'out')], configEnv(config));
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(fs.readFileSync(path.join(root, 'out/evaluation.json'), 'utf8'));
  t.deepEqual(report.camLocalisation, { evaluated: 3, inside: 2, share: 2 / 3 });
  t.is(jsonLines(run.stdout).length, 0);
});
