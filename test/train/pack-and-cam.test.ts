import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { tempDir } from '../helpers/fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, torchvision, onnx'], { stdio: 'ignore' }).status === 0;
const trainingTest = hasTorch || process.env.CI ? test : test.skip;
const INPUT = 224;

function run(command: string, args: string[]): string {
  const done = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (done.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${done.status}: ${done.stderr.slice(-3000)}`);
  return done.stdout;
}

/** Where the runtime's letterbox puts an image-pixel box (sharp fit: contain, centred). */
function toInput(box: number[], width: number, height: number): number[] {
  const scale = Math.min(INPUT / width, INPUT / height);
  const newW = Math.max(1, Math.round(width * scale));
  const newH = Math.max(1, Math.round(height * scale));
  const left = Math.floor((INPUT - newW) / 2);
  const top = Math.floor((INPUT - newH) / 2);
  const [x, y, w, h] = box as [number, number, number, number];
  return [left + (x * newW) / width, top + (y * newH) / height, (w * newW) / width, (h * newH) / height];
}

trainingTest('packs carry each lesion box into model-input pixels; CAM supervision pulls the map into the box and trains from a pack', async (t) => {
  t.timeout(10 * 60_000);
  const tmp = tempDir(t, 'cspine-pack-');
  const data = path.join(tmp, 'data');
  const pack = path.join(tmp, 'data.npz');
  run('node', ['dist/cli.js', 'synth', '--out', data, '--count', '30', '--seed', '5', '--size', '128x160']);
  run(PYTHON, ['scripts/train/dataset.py', '--data', data, '--pack', pack, '--workers', '2']);

  const probe = JSON.parse(run(PYTHON, ['test/train/pack_cam_probe.py', pack, '20']).trim().split('\n').at(-1)!) as {
    lesions: Record<string, number[] | null>;
    inBoxMass: { before: number; after: number };
  };
  const [header, ...rows] = fs.readFileSync(path.join(data, 'labels.csv'), 'utf8').trim().split('\n');
  const columns = header!.split(',');
  const cell = (row: string[], name: string) => row[columns.indexOf(name)]!;
  let boxes = 0;
  for (const line of rows) {
    const row = line.split(',');
    const stored = probe.lesions[cell(row, 'file')];
    if (cell(row, 'label') === 'normal') {
      t.is(stored, null, `${cell(row, 'file')} has no lesion`);
      continue;
    }
    const expected = toInput(['box_x', 'box_y', 'box_w', 'box_h'].map((name) => Number(cell(row, name))), 128, 160);
    stored!.forEach((value, i) => t.true(Math.abs(value - expected[i]!) < 1e-3, `${cell(row, 'file')}: ${stored} vs ${expected}`));
    boxes++;
  }
  t.is(boxes, 20);
  // 20 steps on the CAM loss alone, from a fresh network: the in-box share of the map's softmax
  // starts near chance (1–2 cells of 169) and ends dominant.
  t.true(probe.inBoxMass.before < 0.05, JSON.stringify(probe.inBoxMass));
  t.true(probe.inBoxMass.after > 0.5, JSON.stringify(probe.inBoxMass));

  const out = path.join(tmp, 'run');
  run(PYTHON, ['scripts/train/train.py', '--data', pack, '--out', out, '--epochs', '1', '--batch', '8', '--cam-weight', '0.5', '--time-budget', '20', '--eval-batch', '16']);
  const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  t.is(metrics.data.pack, 'cspine-letterboxed-pack/1');
  t.is(metrics.args.cam_weight, 0.5);
  t.is(typeof metrics.epochs[0].valCam, 'number');
  const abnormalTest = fs
    .readFileSync(path.join(out, 'split.csv'), 'utf8')
    .trim()
    .split(/\r?\n/) // csv.writer ends lines with \r\n
    .slice(1)
    .filter((line) => line.endsWith(',test') && !line.split(',')[1]!.startsWith('normal')).length;
  t.true(abnormalTest > 0);
  t.like(metrics.evaluation.test.camLocalisation, { evaluated: abnormalTest });
  t.true(fs.existsSync(path.join(out, 'best.pt')));
});
