import { spawnSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { jsonLines, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, torchvision, onnx'], { stdio: 'ignore' }).status === 0;

// CI installs Debian's PyTorch (.ci/run), so there the test always runs; a laptop without
// it skips rather than fails.
const trainingTest = hasTorch || process.env.CI ? test : test.skip;

function runSmoke(tmp: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(ROOT, 'scripts/train/smoke.sh')], {
      cwd: ROOT,
      env: { ...process.env, PYTHON, TMPDIR: tmp, KEEP: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

trainingTest('training smoke: 60 phantoms, 1 epoch, ONNX export that the runtime classifies with, heatmap included', async (t) => {
  t.timeout(15 * 60_000);
  const tmp = tempDir(t, 'cspine-train-');
  const smoke = await runSmoke(tmp);
  t.is(smoke.code, 0, smoke.output.slice(-4000));
  t.regex(smoke.output, /in-graph vs autograd Grad-CAM max \|diff\| [0-9.e-]+/);
  t.regex(smoke.output, /ORT vs PyTorch: logits max \|diff\|/);

  const [work] = fs.readdirSync(tmp).filter((name) => name.startsWith('cspine-smoke.'));
  t.truthy(work, `no kept smoke folder in ${tmp}`);
  const models = path.join(tmp, work!, 'models');
  const manifest = JSON.parse(fs.readFileSync(path.join(models, 'cspine-alexnet-smoke/manifest.json'), 'utf8'));
  t.deepEqual(manifest.labels, ['normal', 'fracture', 'dislocation']);
  t.deepEqual(manifest.outputs, { logits: 'logits', cam: 'cam' });
  t.is(manifest.provenance.arch, 'alexnet_bn');

  const phantom = path.join(tmp, work!, 'data/fracture/phantom-000001.png');
  const heatmaps = path.join(tmp, 'heatmaps');
  const run = await runCli(['classify', phantom, '--json', '--heatmap', heatmaps], {
    CSPINE_MODEL__DIR: models,
    CSPINE_MODEL__ID: 'cspine-alexnet-smoke',
    CSPINE_MODEL__THREADS: '1',
    CSPINE_INDICATORS__BACKEND: 'simulated',
  });
  t.is(run.code, 0, run.stderr);
  const [line] = jsonLines(run.stdout);
  t.like(line, { ok: true, model: { id: 'cspine-alexnet-smoke', sha256: manifest.sha256 } });
  const probabilities = Object.values(line!.probabilities as Record<string, number>);
  t.is(probabilities.length, 3);
  t.true(Math.abs(probabilities.reduce((sum, p) => sum + p, 0) - 1) < 1e-4);
  t.is(fs.readdirSync(heatmaps).filter((name) => name.endsWith('.heatmap.jpg')).length, 1);
});
