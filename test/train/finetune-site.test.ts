import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { jsonLines } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, torchvision, onnx'], { stdio: 'ignore' }).status === 0;
const trainingTest = hasTorch || process.env.CI ? test : test.skip;

/** Asynchronous: a run of minutes must not block the worker that reports to ava. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, PYTHON, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

// Sized to prove the chain, not the model: 48 small films, one epoch, 8 PCA components.
const SMOKE = { EPOCHS: '1', BATCH: '8', CAL_COUNT: '24', MIN_AGREEMENT: '0.8', OOD_IMAGES: '48', COMPONENTS: '8', THREADS: '2' };

trainingTest('finetune-site.sh: a folder of films → audit, a package fine-tuned from the shipped one that the runtime loads, with OOD statistics, and its validation', async (t) => {
  t.timeout(10 * 60_000);
  const tmp = tempDir(t, 'cspine-finetune-');
  const site = path.join(tmp, 'site');
  const heldout = path.join(tmp, 'heldout');
  const out = path.join(tmp, 'models', 'site-alexnet');
  for (const [dir, seed, count] of [[site, '5', '48'], [heldout, '6', '30']] as const) {
    t.is((await run('node', ['dist/cli.js', 'synth', '--out', dir, '--count', count, '--seed', seed, '--size', '128x160'])).status, 0);
  }

  const refused = await run('bash', ['scripts/train/finetune-site.sh', site, out], { ...SMOKE, HELDOUT: site });
  t.is(refused.status, 2);
  t.regex(refused.stderr, /HELDOUT is the training folder/);

  const done = await run('bash', ['scripts/train/finetune-site.sh', site, out], { ...SMOKE, HELDOUT: heldout });
  t.is(done.status, 0, `${done.stdout.slice(-2000)}\n${done.stderr.slice(-2000)}`);

  const audit = JSON.parse(fs.readFileSync(path.join(`${out}.work`, 'audit', 'audit.json'), 'utf8')) as Record<string, unknown>;
  t.truthy(audit, 'the audit ran before training');
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { id: string; file: string; ood?: { components: number }; outputs: { features?: string } };
  t.is(manifest.id, 'site-alexnet');
  t.is(manifest.file, 'model.int8.onnx');
  t.is(manifest.ood?.components, 8, 'OOD statistics recomputed on the site films');
  t.truthy(manifest.outputs.features);
  t.true(fs.existsSync(path.join(out, 'model.fp32.onnx')), 'the float variant rebuilt');

  const film = path.join(heldout, 'fracture', fs.readdirSync(path.join(heldout, 'fracture')).sort()[0]!);
  const classified = await run('node', ['dist/cli.js', 'classify', film, '--json'], { CSPINE_MODEL__DIR: path.dirname(out), CSPINE_MODEL__ID: 'site-alexnet' });
  const [line] = jsonLines(classified.stdout);
  t.like(line, { ok: true, model: { id: 'site-alexnet' } }, classified.stderr);
  t.truthy((line as { ood?: unknown }).ood, 'the runtime runs its OOD detector');

  const validation = JSON.parse(fs.readFileSync(path.join(out, 'evaluation', 'validation', 'validation.json'), 'utf8')) as { data: { films: number }; model: { id: string } };
  t.like(validation, { data: { films: 30 }, model: { id: 'site-alexnet' } });
  t.regex(done.stdout, /validation on .*heldout/);
});
