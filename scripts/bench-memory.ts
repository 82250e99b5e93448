/**
 * `npm run bench:memory [-- --images 100 --rounds 2 --levers [--lever NAME…] [--package DIR] --size 1024x1280 --bits 16 --before REF]`
 * (`--rounds 0 --levers --lever after` runs only the levers named, without the main table)
 *
 * The memory footprint of the real service (`node dist/cli.js run`, each run a child process of
 * its own with fresh folders and database), read from outside in /proc/PID: VmRSS before the
 * model loads, VmHWM up to "service started" (the start peak), VmRSS idle after load and after
 * N images dropped one at a time (renamed into the capture folder, the next once the previous
 * one is moved out), with smaps grouped by mapping. "before" is the code at `--before` (the commit
 * before issue 17; `git archive`, built beside this checkout's node_modules), "after" this
 * checkout's dist/, alternated A/B/A/B because this CPU is shared. `--levers` adds one run per
 * lever, each alone on top of "before" (node flags, malloc environment, libvips settings made
 * by a preloaded module), and the ORT session alone in a child per session option.
 * Not part of `npm test`: a few minutes. Prints Markdown tables for docs/benchmarks.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { sessionOptions } from '../src/model/inference.js';
import { processMemory, quantile, type ProcessMemory } from '../src/tools/bench/bench.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli.js');
const MODEL_DIR = path.join(ROOT, 'models');
const MODEL_ID = 'cspine-alexnet-demo';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '2' },
    levers: { type: 'boolean', default: false },
    /** With --levers: also the unit's environment with this model package (a folder models/<id>), e.g. a GoogLeNet. */
    package: { type: 'string' },
    /** With --levers: only the levers whose name contains one of these (repeatable), and no session table. */
    lever: { type: 'string', multiple: true },
    size: { type: 'string', default: '1024x1280' },
    bits: { type: 'string', default: '16' },
    before: { type: 'string', default: 'ab6269c' },
    'session-child': { type: 'string' },
  },
});

// ------------------------------------------------------------------ /proc

const GROUPS = ['node', 'libonnxruntime', 'libvips', 'other files', 'anonymous'] as const;
type Group = (typeof GROUPS)[number];

/** Resident KiB per kind of mapping: the binaries' pages, and anonymous memory (heaps, arenas, stacks). */
function smapsGroups(pid: number): Record<Group, number> {
  const groups: Record<Group, number> = { node: 0, libonnxruntime: 0, libvips: 0, 'other files': 0, anonymous: 0 };
  let current: Group = 'anonymous';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping) {
      const name = mapping[1]!;
      current = !name.startsWith('/') ? 'anonymous' : name === process.execPath || name.endsWith('/node') ? 'node' : name.includes('libonnxruntime') ? 'libonnxruntime' : name.includes('libvips') ? 'libvips' : 'other files';
    } else if (line.startsWith('Rss:')) {
      groups[current] += Number(line.split(/\s+/)[1]);
    }
  }
  return groups;
}

// ------------------------------------------------------------------ one service run

interface Variant {
  name: string;
  /** The build to run: this checkout's dist/, or the one built from `--before`. */
  cli: string;
  /** Merged over the bench's own configuration. */
  config?: Record<string, Record<string, unknown>>;
  env?: Record<string, string>;
  nodeArgs?: string[];
}

interface ServiceRun {
  variant: string;
  beforeModelKiB: number;
  startPeakKiB: number;
  idle: ProcessMemory & { groups: Record<Group, number> };
  afterImages: ProcessMemory & { groups: Record<Group, number> };
  loadMs: number;
  /** Rename into the capture folder → the "classified" log line. */
  dropToResultMs: number[];
  /** The pipeline's own total (decode … triage) and inference, from the log line. */
  totalMs: number[];
  inferMs: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(probe: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

async function runService(variant: Variant, images: readonly string[], work: string): Promise<ServiceRun> {
  const dir = fs.mkdtempSync(path.join(work, `${variant.name.replace(/[^a-z0-9]+/gi, '-')}-`));
  const at = (name: string) => path.join(dir, name);
  const base: Record<string, Record<string, unknown>> = {
    capture: { dir: at('capture'), stableWindowMs: 0, processedDir: at('processed'), rejectedDir: at('rejected') },
    model: { dir: MODEL_DIR, id: MODEL_ID },
    imaging: { heatmapDir: at('heatmaps') },
    store: { path: at('cspine.db') },
    privacy: { siteSecretFile: at('site-secret') },
    indicators: { backend: 'simulated', render: false, lampTestAtStart: false },
    jobs: { healthSchedule: 'off', retentionSchedule: 'off', selfTestSchedule: 'off' },
  };
  for (const [section, keys] of Object.entries(variant.config ?? {})) base[section] = { ...base[section], ...keys };
  fs.writeFileSync(at('config.yaml'), JSON.stringify(base));
  fs.mkdirSync(at('capture'));

  const started = performance.now();
  const child = spawn(process.execPath, [...(variant.nodeArgs ?? []), variant.cli, 'run', '--config', at('config.yaml')], {
    env: { ...process.env, ...variant.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));

  const lines: Array<{ msg: string; file?: string; at: number; timingsMs?: { total: number; infer: number } }> = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const split = text.split('\n');
    partial = split.pop()!;
    const now = performance.now();
    for (const line of split) {
      try {
        lines.push({ ...(JSON.parse(line) as { msg: string }), at: now });
      } catch {
        // not a log line
      }
    }
  });
  const seen = (msg: string, file?: string) => lines.find((line) => line.msg === msg && (file === undefined || line.file === file));

  try {
    let beforeModelKiB = Number.NaN;
    await until(() => {
      if (exited) throw new Error(`${variant.name}: the service exited: ${stderr.slice(-2000)}`);
      if (Number.isNaN(beforeModelKiB) && seen('lamps')) beforeModelKiB = processMemory(pid)?.rssKiB ?? Number.NaN;
      return seen('service started') !== undefined;
    }, 'service started');
    const loadMs = seen('service started')!.at - started;
    const startPeakKiB = processMemory(pid)!.hwmKiB;
    await sleep(3000);
    const idle = { ...processMemory(pid)!, groups: smapsGroups(pid) };

    const dropToResultMs: number[] = [];
    const totalMs: number[] = [];
    const inferMs: number[] = [];
    for (const [i, image] of images.entries()) {
      const name = `image-${String(i).padStart(4, '0')}${path.extname(image)}`;
      const hidden = at(`capture/.${name}`);
      fs.copyFileSync(image, hidden);
      const dropped = performance.now();
      fs.renameSync(hidden, at(`capture/${name}`));
      await until(() => {
        if (exited) throw new Error(`${variant.name}: the service exited: ${stderr.slice(-2000)}`);
        return seen('classified', name) !== undefined;
      }, `${name} classified`);
      const line = seen('classified', name)!;
      dropToResultMs.push(line.at - dropped);
      totalMs.push(line.timingsMs!.total);
      inferMs.push(line.timingsMs!.infer);
      // Its overlay is drawn and the file moved after the lamp: one image at a time, as they come from one X-ray unit.
      await until(() => !fs.existsSync(at(`capture/${name}`)), `${name} moved`);
    }
    await sleep(3000);
    const afterImages = { ...processMemory(pid)!, groups: smapsGroups(pid) };
    return { variant: variant.name, beforeModelKiB, startPeakKiB, idle, afterImages, loadMs, dropToResultMs, totalMs, inferMs };
  } finally {
    child.kill('SIGTERM');
    await until(() => exited, 'the service to stop', 30_000).catch(() => child.kill('SIGKILL'));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ the ORT session alone

interface SessionRun {
  lever: string;
  createdKiB: number;
  createPeakKiB: number;
  warmKiB: number;
  afterRunsKiB: number;
  p50Ms: number;
  firstLogit: number;
}

/** In a child of its own: the package's INT8 file in a bare ORT session with the shared options plus `extra`. */
async function sessionChild(spec: { extra: ort.InferenceSession.SessionOptions; fromBuffer: boolean; runs: number }): Promise<void> {
  const file = path.join(MODEL_DIR, MODEL_ID, 'model.int8.onnx');
  const session = await ort.InferenceSession.create(spec.fromBuffer ? fs.readFileSync(file) : (file as never), sessionOptions(0, spec.extra));
  const created = processMemory()!;
  const input = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i));
  const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', input, [1, 3, 224, 224]) };
  const first = await session.run(feeds);
  const warmKiB = processMemory()!.rssKiB;
  const times: number[] = [];
  for (let i = 0; i < spec.runs; i++) {
    const t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  const done = processMemory()!;
  const result = { createdKiB: created.rssKiB, createPeakKiB: created.hwmKiB, warmKiB, afterRunsKiB: done.rssKiB, p50Ms: quantile(times, 0.5), firstLogit: (first[session.outputNames[0]!]!.data as Float32Array)[0]! };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runSession(lever: string, extra: ort.InferenceSession.SessionOptions, fromBuffer: boolean, runs: number): Promise<SessionRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--session-child', JSON.stringify({ extra, fromBuffer, runs })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve({ lever, ...(JSON.parse(out.trim().split('\n').pop()!) as Omit<SessionRun, 'lever'>) }) : reject(new Error(`session child for ${lever} exited ${code}`))));
  });
}

// ------------------------------------------------------------------ tables

const mib = (kiB: number) => (kiB / 1024).toFixed(0);
const median = (numbers: number[]) => quantile(numbers, 0.5);

function summarise(runs: ServiceRun[]) {
  const pick = (f: (run: ServiceRun) => number) => median(runs.map(f));
  return {
    beforeModel: pick((r) => r.beforeModelKiB),
    startPeak: pick((r) => r.startPeakKiB),
    idle: pick((r) => r.idle.rssKiB),
    after: pick((r) => r.afterImages.rssKiB),
    hwm: pick((r) => r.afterImages.hwmKiB),
    loadMs: pick((r) => r.loadMs),
    groups: Object.fromEntries(GROUPS.map((g) => [g, [pick((r) => r.idle.groups[g]), pick((r) => r.afterImages.groups[g])]])) as Record<Group, [number, number]>,
    dropP50: quantile(runs.flatMap((r) => r.dropToResultMs), 0.5),
    totalP50: quantile(runs.flatMap((r) => r.totalMs), 0.5),
    inferP50: quantile(runs.flatMap((r) => r.inferMs), 0.5),
  };
}

// ------------------------------------------------------------------ main

if (values['session-child']) {
  await sessionChild(JSON.parse(values['session-child']) as Parameters<typeof sessionChild>[0]);
  process.exit(0);
}

if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build first`);
const count = Number(values.images);
const rounds = Math.max(0, Number(values.rounds));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-bench-memory-'));
const phantoms = path.join(work, 'phantoms');
const synth = spawn(process.execPath, [CLI, 'synth', '--out', phantoms, '--count', String(count), '--seed', '5', '--size', values.size!, '--bits', values.bits!], { stdio: 'inherit' });
await new Promise((resolve) => synth.once('exit', resolve));
const images = fs
  .readdirSync(phantoms, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith('.png'))
  .map((entry) => path.join(entry.parentPath, entry.name))
  .sort((a, b) => path.basename(a).localeCompare(path.basename(b)));

/** The service as it was before issue 17, built from git without touching this checkout. */
function buildBefore(ref: string): string {
  const dir = path.join(work, 'before');
  fs.mkdirSync(dir);
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${ref}" src tsconfig.json tsconfig.build.json package.json assets schemas | tar -x -C "${dir}"`]);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
  return path.join(dir, 'dist/cli.js');
}

const BEFORE: Variant = { name: 'before', cli: buildBefore(values.before!) };
const AFTER: Variant = { name: 'after', cli: CLI };

/** What deploy/cspine-edge.service adds to the environment (node and malloc settings), read from the unit itself. */
function unitEnvironment(): Record<string, string> {
  const unit = fs.readFileSync(path.join(ROOT, 'deploy/cspine-edge.service'), 'utf8');
  return Object.fromEntries([...unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].filter(([, name]) => name !== 'CSPINE_CONFIG').map(([, name, value]) => [name!, value!]));
}
const UNIT: Variant = { name: 'after, as the unit runs it', cli: CLI, env: unitEnvironment() };

const runs: ServiceRun[] = [];
for (let round = 0; round < rounds; round++) {
  for (const variant of [BEFORE, AFTER, UNIT]) {
    process.stderr.write(`round ${round + 1}/${rounds}: ${variant.name}\n`);
    runs.push(await runService(variant, images, work));
  }
}
if (rounds > 0) {
  const before = summarise(runs.filter((r) => r.variant === 'before'));
  const after = summarise(runs.filter((r) => r.variant === AFTER.name));
  const unit = summarise(runs.filter((r) => r.variant === UNIT.name));

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\n${count} phantoms ${values.size} ${values.bits}-bit, ${rounds} round(s) of before/after alternated; ${cpu}, ${os.availableParallelism()} cores, Node ${process.version}\n`);
  console.log(`| measured from outside (MiB, median of the rounds) | before | after | after, unit environment (${Object.entries(UNIT.env!).map(([name, value]) => `${name}=${value}`).join(' ')}) |`);
  console.log('| --- | ---: | ---: | ---: |');
  const row = (label: string, ...cells: string[]) => console.log(`| ${label} | ${cells.join(' | ')} |`);
  const all = [before, after, unit];
  const each = (cell: (summary: (typeof all)[number]) => string) => all.map(cell);
  row('VmRSS at start, before the model loads', ...each((s) => mib(s.beforeModel)));
  row('**start peak** (VmHWM up to "service started")', ...each((s) => mib(s.startPeak)));
  row('VmRSS idle after load (3 s after "service started")', ...each((s) => mib(s.idle)));
  row(`**VmRSS after ${count} images** (3 s after the last)`, ...each((s) => mib(s.after)));
  row(`VmHWM after ${count} images`, ...each((s) => mib(s.hwm)));
  for (const group of GROUPS) row(`  ${group} (smaps Rss), idle → after ${count}`, ...each((s) => `${mib(s.groups[group][0])} → ${mib(s.groups[group][1])}`));
  row('start → "service started" (ms)', ...each((s) => s.loadMs.toFixed(0)));
  row('**per-image pipeline total p50** (ms, from the log)', ...each((s) => s.totalP50.toFixed(1)));
  row('  of which inference p50 (ms)', ...each((s) => s.inferP50.toFixed(1)));
  row('rename → "classified" p50 (ms)', ...each((s) => s.dropP50.toFixed(1)));
}

if (values.levers) {
  // libvips' cache and thread count are process-wide: a module preloaded into the old service sets them.
  const preload = path.join(work, 'libvips.mjs');
  fs.writeFileSync(preload, `import sharp from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'node_modules/sharp/dist/index.mjs')).href)};\nconst spec = JSON.parse(process.env.BENCH_LIBVIPS);\nif ('cache' in spec) sharp.cache(spec.cache);\nif ('concurrency' in spec) sharp.concurrency(spec.concurrency);\n`);
  const libvips = (spec: object): Partial<Variant> => ({ nodeArgs: ['--import', preload], env: { BENCH_LIBVIPS: JSON.stringify(spec) } });
  const LEVERS: Variant[] = [
    BEFORE,
    { ...BEFORE, name: 'model.threads 1', config: { model: { threads: 1 } } },
    { ...BEFORE, name: 'sharp.cache(false)', ...libvips({ cache: false }) },
    { ...BEFORE, name: 'sharp.concurrency(1)', ...libvips({ concurrency: 1 }) },
    { ...BEFORE, name: 'node --max-semi-space-size=1', nodeArgs: ['--max-semi-space-size=1'] },
    { ...BEFORE, name: 'node --max-old-space-size=64', nodeArgs: ['--max-old-space-size=64'] },
    { ...BEFORE, name: 'MALLOC_ARENA_MAX=2', env: { MALLOC_ARENA_MAX: '2' } },
    { ...BEFORE, name: 'MALLOC_MMAP_THRESHOLD_=131072', env: { MALLOC_MMAP_THRESHOLD_: '131072' } },
    { ...AFTER, name: 'after, model.memoryArena true', config: { model: { memoryArena: true } } },
    AFTER,
    { ...AFTER, name: 'after + MALLOC_ARENA_MAX=2 + --max-semi-space-size=1', nodeArgs: ['--max-semi-space-size=1'], env: { MALLOC_ARENA_MAX: '2' } },
    { ...AFTER, name: 'after + MALLOC_ARENA_MAX=2 + --max-semi-space-size=1 + MALLOC_MMAP_THRESHOLD_=1048576', nodeArgs: ['--max-semi-space-size=1'], env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '1048576' } },
    { ...AFTER, name: 'after + MALLOC_ARENA_MAX=2 + --max-semi-space-size=1 + MALLOC_MMAP_THRESHOLD_=131072', nodeArgs: ['--max-semi-space-size=1'], env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' } },
    UNIT,
    ...(values.package ? [{ ...UNIT, name: `after, as the unit runs it, with ${path.basename(values.package)}`, config: { model: { dir: path.dirname(path.resolve(values.package)), id: path.basename(values.package) } } }] : []),
  ].filter((lever) => !values.lever || values.lever.some((part) => lever.name.includes(part)));
  console.log(`\n| lever (alone, over "before" unless it says "after") | start peak | idle | after ${count} | pipeline p50 ms | inference p50 ms |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const lever of LEVERS) {
    process.stderr.write(`lever: ${lever.name}\n`);
    const s = summarise([await runService(lever, images, work)]);
    console.log(`| ${lever.name} | ${mib(s.startPeak)} | ${mib(s.idle)} | ${mib(s.after)} | ${s.totalP50.toFixed(1)} | ${s.inferP50.toFixed(1)} |`);
  }

  if (!values.lever) await sessionTable();
}

async function sessionTable(): Promise<void> {
  const SESSION_LEVERS: Array<[string, ort.InferenceSession.SessionOptions, boolean]> = [
    ['as the service: path, arena off', {}, false],
    ['enableCpuMemArena true', { enableCpuMemArena: true }, false],
    ['enableMemPattern false', { enableMemPattern: false }, false],
    ["graphOptimizationLevel 'extended'", { graphOptimizationLevel: 'extended' }, false],
    ["graphOptimizationLevel 'basic'", { graphOptimizationLevel: 'basic' }, false],
    ['session.disable_prepacking 1', { extra: { session: { disable_prepacking: '1' } } }, false],
    ['session.use_device_allocator_for_initializers 1, arena on', { enableCpuMemArena: true, extra: { session: { use_device_allocator_for_initializers: '1' } } }, false],
    ['session.use_env_allocators 1, arena on', { enableCpuMemArena: true, extra: { session: { use_env_allocators: '1' } } }, false],
    ['from a Buffer instead of the path', {}, true],
  ];
  console.log('\n| ORT session alone (its own child, 100 runs) | RSS created | peak while creating | RSS warm | RSS after runs | p50 ms | first logit |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [lever, extra, fromBuffer] of SESSION_LEVERS) {
    process.stderr.write(`session: ${lever}\n`);
    const s = await runSession(lever, extra, fromBuffer, 100);
    console.log(`| ${lever} | ${mib(s.createdKiB)} | ${mib(s.createPeakKiB)} | ${mib(s.warmKiB)} | ${mib(s.afterRunsKiB)} | ${s.p50Ms.toFixed(2)} | ${s.firstLogit.toFixed(6)} |`);
  }
}
fs.rmSync(work, { recursive: true, force: true });
