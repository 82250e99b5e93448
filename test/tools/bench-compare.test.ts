import path from 'node:path';
import test from 'ava';
import { recommend, type BenchRow } from '../../src/tools/bench/compare.js';
import { brightnessModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';
import { runCli } from '../helpers/cli.js';
import { configEnv, SHIPPED_MODEL, workspace } from '../helpers/fixtures.js';

const MIB = 2 ** 20;

function row(packageId: string, medianMs: number, peakMib: number, accuracy?: [number, number]): BenchRow {
  return {
    packageId,
    variant: 'int8',
    file: 'model.int8.onnx',
    bytes: 1,
    loadMs: 1,
    runs: 10,
    medianMs,
    p95Ms: medianMs,
    peakRssBytes: peakMib * MIB,
    ...(accuracy ? { accuracy: { images: 100, accuracy: accuracy[0], injurySensitivity: accuracy[1] } } : {}),
  };
}

test('the recommendation never takes a package that misses more injuries, however fast or small', (t) => {
  const safe = row('alexnet', 40, 300, [0.99, 1]);
  const fast = row('googlenet', 10, 80, [0.995, 0.98]);
  const choice = recommend([fast, safe]);
  t.is(choice.row, safe);
  t.regex(choice.reason, /higher injury sensitivity \(100\.00% against 98\.00% for googlenet \(int8\)\)/);
});

test('the recommendation: same sensitivity, higher accuracy; then the faster; within 10% the smaller', (t) => {
  t.is(recommend([row('a', 10, 80, [0.97, 1]), row('b', 40, 300, [0.99, 1])]).row.packageId, 'b');
  const faster = recommend([row('a', 40, 80, [0.99, 1]), row('b', 20, 300, [0.99, 1])]);
  t.is(faster.row.packageId, 'b');
  t.regex(faster.reason, /faster \(median 20\.0 ms against 40\.0 ms for a \(int8\)\)/);
  const smaller = recommend([row('a', 20, 300), row('b', 21, 80)]);
  t.is(smaller.row.packageId, 'b', 'within 10% of the fastest, memory decides');
  t.regex(smaller.reason, /less memory \(peak 80 MiB against 300 MiB for a \(int8\)\)/);
  t.is(recommend([row('a', 20, 80), row('b', 20, 80)]).row.packageId, 'a', 'a tie goes to the first given');
});

const ROW = /^(\S+)\s+(\S+)\s+([\d.]+) MB\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+) MiB(?:\s+([\d.]+)%\s+([\d.]+)%)?$/;

/** The rows under each package's header line, by package id. */
function tables(stdout: string): Map<string, RegExpExecArray[]> {
  const result = new Map<string, RegExpExecArray[]>();
  let current: RegExpExecArray[] | undefined;
  for (const line of stdout.split('\n')) {
    const header = /^(\S+) \(.+\)$/.exec(line);
    if (header) result.set(header[1]!, (current = []));
    const match = ROW.exec(line);
    if (match && current) current.push(match);
  }
  return result;
}

test('model bench compares the shipped AlexNet with a tiny package: memory per process, accuracy on --data, the safer one chosen', async (t) => {
  const { root, config } = workspace(t);
  // A package that calls every film normal (inputs shifted up by one, so its brightness score
  // always says normal): fast and small, and it misses every injury.
  const blind = writeModelPackage(config.model.dir, { id: 'always-normal', onnx: brightnessModel(16), size: 16, overrides: { preprocess: { resize: 'stretch', mean: [-1], std: [1] } } });
  const data = path.join(root, 'phantoms');
  const synth = await runCli(['synth', '--out', data, '--count', '6', '--seed', '19']);
  t.is(synth.code, 0, synth.stderr);
  const alexnet = path.join(SHIPPED_MODEL.dir, SHIPPED_MODEL.id);

  const run = await runCli(['model', 'bench', alexnet, blind, '--data', data, '--runs', '3'], configEnv(config));
  t.is(run.code, 0, run.stderr);
  const found = tables(run.stdout);
  const [alex] = found.get(SHIPPED_MODEL.id) ?? [];
  const [tiny] = found.get('always-normal') ?? [];
  t.truthy(alex, run.stdout);
  t.truthy(tiny, run.stdout);
  t.is(alex![1], 'int8');
  t.is(tiny![1], 'default');
  const rss = (r: RegExpExecArray) => Number(r[7]);
  t.true(rss(tiny!) > 20, `a Node process with ONNX Runtime: ${rss(tiny!)} MiB`);
  t.true(rss(alex!) > rss(tiny!) + 40, `AlexNet's 58 MB of int8 weights show: ${rss(alex!)} vs ${rss(tiny!)} MiB`);
  t.is(alex![8], '100.00', 'the shipped model on 6 phantoms');
  t.is(tiny![9], '0.00', 'it calls every film normal');
  t.regex(run.stdout, /^run cspine-alexnet-demo \(int8\) here .*higher injury sensitivity \(100\.00% against 0\.00% for always-normal \(default\)\)/m);
  t.regex(run.stdout, /^not here: fp32 \(make it with: /m);

  // without --data only speed and memory decide, and the command says so
  const blindOnly = await runCli(['model', 'bench', alexnet, blind, '--runs', '3'], configEnv(config));
  t.is(blindOnly.code, 0, blindOnly.stderr);
  t.regex(blindOnly.stdout, /^run always-normal \(default\) here .*faster.*chosen on speed and memory alone: give --data DIR/m);
});

test('model bench with one package and no --data keeps its variant table and advice', async (t) => {
  const { config } = workspace(t);
  const run = await runCli(['model', 'bench', '--runs', '3'], configEnv(config));
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /^variant {3}file {18}size {6}load ms {3}median ms {3}p95 ms {3}vs fastest$/m);
  t.regex(run.stdout, /^default {3}model\.onnx .*1\.00×$/m);
  t.regex(run.stdout, /^the configured variant \(default\) is the fastest here: keep it$/m);
  t.notRegex(run.stdout, /peak RSS/);
});
