import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { tempDir } from '../helpers/fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, torchvision, onnx'], { stdio: 'ignore' }).status === 0;
const trainingTest = hasTorch || process.env.CI ? test : test.skip;

trainingTest('--init from an exported ONNX file rebuilds the network: batch norm folded, final layer kept', (t) => {
  t.timeout(5 * 60_000);
  const done = spawnSync(PYTHON, ['test/train/onnx_init_probe.py', tempDir(t, 'cspine-onnx-init-')], { cwd: ROOT, encoding: 'utf8' });
  t.is(done.status, 0, done.stderr.slice(-3000));
  const probe = JSON.parse(done.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  t.is(probe.loadedTensors, 16, 'five convolutions and three linear layers, weight and bias each');
  t.deepEqual(probe.skippedFinalLayer, [], 'our own three-class head is kept');
  t.deepEqual(probe.leftAtInit, []);
  t.true((probe.logitsScale as number) > 1e-3, 'the network says something to compare');
  t.true((probe.logitsMaxAbsDiff as number) < 1e-4 * Math.max(1, probe.logitsScale as number), JSON.stringify(probe));
  t.true((probe.camMaxAbsDiff as number) < 1e-4, JSON.stringify(probe));
  t.true(probe.refusesBatchNorm, 'an export has no batch norm to load into alexnet_bn');
});
