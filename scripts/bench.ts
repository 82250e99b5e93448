/**
 * `npm run bench [-- --runs N --captures N --burst N]`: speed and memory of the real pipeline on this
 * machine — random-weight AlexNet, synthetic 2048×2560 radiographs, the real service watching a
 * real folder. Prints the tables and writes them, with the machine's details, to docs/benchmarks.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { configSchema } from '../src/config/schema.js';
import type { ModelManifest } from '../src/model/manifest.js';
import type { Classifier } from '../src/pipeline/classifier.js';
import { openClassifier } from '../src/pipeline/open-classifier.js';
import { writeBadFiles } from '../src/tools/fixtures/images.js';
import { alexnetModel, writeModelPackage } from '../src/tools/fixtures/onnx-models.js';
import { heatmapOverlay, type HeatmapFormat } from '../src/imaging/heatmap.js';
import { quantile } from '../src/tools/bench/bench.js';
import { phantomFiles, timeBurst, timeLamp, type InputKind, type LampLatency } from './bench-lamp-burst.js';

const MODEL_ID = 'bench-alexnet';
const WIDTH = 2048;
const HEIGHT = 2560;
const WARMUP_RUNS = 3;
/** Unmeasured captures first, so the first file's one-off costs (folder creation, caches) stay out. */
const CAPTURE_WARMUP = 2;
const STABLE_WINDOWS_MS = [300, 0];
const STAGES = ['decode', 'quality', 'preprocess', 'infer', 'total'] as const;
const DOC = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
const MiB = 1024 * 1024;

type Stage = (typeof STAGES)[number];
type Align = 'left' | 'right';
interface Table {
  headers: string[];
  align: Align[];
  rows: string[][];
}

// ---------------------------------------------------------------- statistics and tables

const ms = (value: number): string => value.toFixed(1);
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

function statsRow(label: string, values: readonly number[]): string[] {
  return [label, String(values.length), ms(quantile(values, 0.5)), ms(quantile(values, 0.95))];
}

function textTable({ headers, align, rows }: Table): string {
  const widths = headers.map((header, c) => Math.max(header.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, c) => (align[c] === 'right' ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(headers), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

function markdownTable({ headers, align, rows }: Table): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(align.map((a) => (a === 'right' ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

/** One line, rewritten in place; only on a terminal, so logs and pipes stay clean. */
function progress(message: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[Kbench: ${message}`);
}

// ---------------------------------------------------------------- inputs

/**
 * A soft bright column (the spine) with periodic bands (vertebrae) over a gradient, plus
 * sensor-like noise: compresses and resizes like a radiograph, unlike a flat fill.
 */
function syntheticRadiograph(): Uint16Array {
  const pixels = new Uint16Array(WIDTH * HEIGHT);
  let state = 0x9e3779b9;
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const noise = ((state >>> 0) / 2 ** 32 - 0.5) * 0.06;
      const column = Math.exp(-(((x - WIDTH / 2) / (WIDTH * 0.12)) ** 2)) * (0.8 + 0.2 * Math.sin(y / 45));
      const value = 0.1 + 0.25 * (y / HEIGHT) + 0.1 * (x / WIDTH) + 0.45 * column + noise;
      pixels[y * WIDTH + x] = Math.round(Math.min(1, Math.max(0, value)) * 65535);
    }
  }
  return pixels;
}

const raw = { raw: { width: WIDTH, height: HEIGHT, channels: 1 as const } };

/** A white square at a different place per index, so each copy has its own SHA-256. */
function stamped(base: Uint8Array, index: number): Uint8Array {
  const copy = base.slice();
  const [left, top] = [64 + (index % 32) * 48, 64 + Math.floor(index / 32) * 48];
  for (let y = top; y < top + 32; y++) copy.fill(255, y * WIDTH + left, y * WIDTH + left + 32);
  return copy;
}

// ---------------------------------------------------------------- measurements

async function timeClassify(classifier: Classifier, label: string, bytes: Buffer, runs: number, bits: number): Promise<Record<Stage, number[]>> {
  for (let i = 0; i < WARMUP_RUNS; i++) {
    progress(`${label} warm-up ${i + 1}/${WARMUP_RUNS}`);
    const { image } = await classifier.classify(bytes);
    // Guards the measurement itself: an 8-bit decode of the PNG would time the wrong path.
    if (image.bitsPerSample !== bits) throw new Error(`${label}: decoded as ${image.bitsPerSample}-bit, expected ${bits}-bit`);
  }
  const samples: Record<Stage, number[]> = { decode: [], quality: [], preprocess: [], infer: [], total: [] };
  for (let i = 0; i < runs; i++) {
    progress(`${label} ${i + 1}/${runs}`);
    const { timingsMs } = await classifier.classify(bytes);
    // `quality` is there whenever the gate is on, as it is by default.
    for (const stage of STAGES) samples[stage].push(timingsMs[stage] ?? 0);
  }
  return samples;
}

/** The overlay of a 13×13 activation map on the decoded 16-bit image, per encoding: wall time and size. */
async function timeOverlays(classifier: Classifier, bytes: Buffer, runs: number): Promise<Array<{ format: HeatmapFormat; ms: number[]; bytes: number }>> {
  const { decoded } = await classifier.classify(bytes);
  const cam = { width: 13, height: 13, data: Float32Array.from({ length: 169 }, (_, i) => Math.exp(-(((i % 13) - 6) ** 2 + (Math.floor(i / 13) - 4) ** 2) / 8)) };
  const results: Array<{ format: HeatmapFormat; ms: number[]; bytes: number }> = [];
  for (const format of ['jpeg', 'png', 'webp'] as const) {
    const ms: number[] = [];
    let size = 0;
    for (let i = 0; i < WARMUP_RUNS + runs; i++) {
      progress(`heatmap overlay ${format} ${i + 1}/${WARMUP_RUNS + runs}`);
      const started = performance.now();
      size = (await heatmapOverlay(decoded, cam, classifier.engine.model.manifest, { format })).length;
      if (i >= WARMUP_RUNS) ms.push(performance.now() - started);
    }
    results.push({ format, ms, bytes: size });
  }
  return results;
}

// ---------------------------------------------------------------- report

const BAD_FILE_RUNS = 5;
const REPO = fileURLToPath(new URL('..', import.meta.url));

/**
 * The CLI as it ships, compiled from this checkout into `dir` laid out like an installed
 * package (package.json beside dist/, node_modules linked). Compiled because tsx's loader
 * would about double the start-up time being measured; built here rather than taken from the
 * repository's dist/, which may be older than the source.
 */
function buildCli(dir: string): string {
  progress('compiling the CLI');
  execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')], { stdio: 'inherit' });
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  return path.join(dir, 'dist/cli.js');
}

/** The acceptance case for bad input, timed as a user sees it: the whole CLI process. */
async function timeBadFilesCli(root: string, modelsDir: string, cli: string): Promise<{ wallMs: number[]; maxRssBytes: number[] }> {
  const paths = await writeBadFiles(path.join(root, 'bad'));
  const reportRss = fileURLToPath(new URL('../src/tools/bench/report-rss.mjs', import.meta.url));
  const wallMs: number[] = [];
  const maxRssBytes: number[] = [];
  for (let i = 0; i < BAD_FILE_RUNS; i++) {
    progress(`classify CLI on bad files ${i + 1}/${BAD_FILE_RUNS}`);
    const started = performance.now();
    const run = spawnSync(process.execPath, ['--import', reportRss, cli, 'classify', ...paths, '--json'], {
      env: { ...process.env, CSPINE_MODEL__DIR: modelsDir, CSPINE_MODEL__ID: MODEL_ID },
      encoding: 'utf8',
    });
    wallMs.push(performance.now() - started);
    if (run.status !== 2) throw new Error(`classify on bad files exited ${run.status}, expected 2: ${run.stderr}`);
    maxRssBytes.push(Number(/maxrss_kib=(\d+)/.exec(run.stderr)?.[1] ?? Number.NaN) * 1024);
  }
  return { wallMs, maxRssBytes };
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) return match[1]!.trim();
  } catch {
    // not Linux: os.cpus() below
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

async function bench(root: string, runs: number, captures: number, burstFiles: number, command: string): Promise<void> {
  const modelsDir = path.join(root, 'models');
  progress('writing the random-weight AlexNet');
  // In a child process: the generator's ~0.5 GB of weight buffers would otherwise own the peak RSS.
  execFileSync(process.execPath, ['--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url), '--write-model', modelsDir], { stdio: 'inherit' });
  const onnxBytes = fs.statSync(path.join(modelsDir, MODEL_ID, 'model.onnx')).size;

  progress('generating inputs');
  const gray16 = syntheticRadiograph();
  const gray8 = Uint8Array.from(gray16, (value) => value >> 8);
  // Without grey16 sharp writes the 16-bit raw input as an 8-bit sRGB PNG.
  const png16 = await sharp(gray16, raw).toColourspace('grey16').png().toBuffer();
  const jpeg8 = await sharp(gray8, raw).jpeg({ quality: 90 }).toBuffer();
  const captureImages = await Promise.all(
    Array.from({ length: captures + CAPTURE_WARMUP }, (_, i) => sharp(stamped(gray8, i), raw).jpeg({ quality: 90 }).toBuffer()),
  );
  const inputsDir = path.join(root, 'inputs');
  fs.mkdirSync(inputsDir);
  fs.writeFileSync(path.join(inputsDir, 'xray16.png'), png16);
  fs.writeFileSync(path.join(inputsDir, 'xray8.jpg'), jpeg8);

  progress('loading the model');
  const config = configSchema.parse({ model: { dir: modelsDir, id: MODEL_ID } });
  const loadStart = performance.now();
  const classifier = await openClassifier(config);
  const loadMs = performance.now() - loadStart;
  const rssAfterLoad = process.memoryUsage().rss;

  const png = await timeClassify(classifier, 'png16', fs.readFileSync(path.join(inputsDir, 'xray16.png')), runs, 16);
  const overlays = await timeOverlays(classifier, fs.readFileSync(path.join(inputsDir, 'xray16.png')), runs);
  const jpeg = await timeClassify(classifier, 'jpeg8', fs.readFileSync(path.join(inputsDir, 'xray8.jpg')), runs, 8);
  // Only one model in memory at a time, as on the device.
  await classifier.engine.close();

  const cli = buildCli(path.join(root, 'package'));
  const badFiles = await timeBadFilesCli(root, modelsDir, cli);

  const capture = new Map<number, { latency: number[]; added: number[] }>();
  for (const window of STABLE_WINDOWS_MS) {
    const { latency, pipeline } = await timeLamp(root, captureImages, { ext: 'jpg', stableWindowMs: window, warmup: CAPTURE_WARMUP, model: { dir: modelsDir, id: MODEL_ID } }, progress);
    capture.set(window, { latency, added: latency.map((ms, i) => ms - pipeline[i]!) });
  }
  const lamps: Array<LampLatency & { kind: InputKind }> = [];
  for (const kind of ['png', 'dicom'] as const) {
    const files = await phantomFiles(kind, captures + CAPTURE_WARMUP);
    for (const window of STABLE_WINDOWS_MS) lamps.push({ kind, ...(await timeLamp(root, files, { ext: kind === 'png' ? 'png' : 'dcm', stableWindowMs: window, warmup: CAPTURE_WARMUP }, progress)) });
  }
  const burst = await timeBurst(root, cli, burstFiles, progress);
  const peakRss = process.resourceUsage().maxRSS * 1024;
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');

  const latencyTable: Table = {
    headers: ['Measurement (ms)', 'n', 'median', 'p95'],
    align: ['left', 'right', 'right', 'right'],
    rows: [
      ['model load (openClassifier)¹', '1', ms(loadMs), ''],
      ...STAGES.map((stage) => statsRow(`PNG 16-bit: ${stage}`, png[stage])),
      ...STAGES.map((stage) => statsRow(`JPEG 8-bit q90: ${stage}`, jpeg[stage])),
      ...overlays.map(({ format, ms: times, bytes }) => statsRow(`heatmap overlay, ${format} (${(bytes / 1024).toFixed(0)} KiB), 768 px⁸`, times)),
      ...STABLE_WINDOWS_MS.flatMap((window) => [
        statsRow(`capture → lamp, stableWindowMs ${window}²`, capture.get(window)!.latency),
        statsRow(`  added by the capture folder³`, capture.get(window)!.added),
      ]),
      statsRow('`classify` CLI, 4 bad files, whole process⁵', badFiles.wallMs),
      ...lamps.flatMap((lamp) => [
        statsRow(`lamp: ${lamp.kind === 'png' ? 'PNG 1024×1280' : 'DICOM 2048×2560'}, stableWindowMs ${lamp.stableWindowMs}: rename → lamp⁶`, lamp.latency),
        statsRow(`  its pipeline total (decode … triage)⁶`, lamp.pipeline),
      ]),
    ],
  };
  const burstTable: Table = {
    headers: [`Burst of ${burst.files} PNG phantoms⁷`, 'value'],
    align: ['left', 'right'],
    rows: [
      ['service: drop → every lamp', `${(burst.serviceLampsMs / 1000).toFixed(1)} s`],
      ['service: drop → every file moved', `${(burst.serviceFinishedMs / 1000).toFixed(1)} s`],
      ['service: drop → every overlay drawn (once quiet)', `${(burst.serviceOverlaysMs / 1000).toFixed(1)} s`],
      ['`classify DIR` on the same files (after its model load)', `${(burst.classifyMs / 1000).toFixed(1)} s`],
      ['service rate ÷ classify rate (lamps)', (burst.classifyMs / burst.serviceLampsMs).toFixed(2)],
      ['RSS after 50 lamps → after all', `${mib(burst.rssAfter50)} → ${mib(burst.rssAfterAll)}`],
    ],
  };
  const memoryTable: Table = {
    headers: ['Size / memory', 'value'],
    align: ['left', 'right'],
    rows: [
      ['ONNX model file', mib(onnxBytes)],
      ['PNG 16-bit input', mib(png16.length)],
      ['JPEG 8-bit q90 input', mib(jpeg8.length)],
      ['RSS after model load', mib(rssAfterLoad)],
      ['peak RSS (maxRSS)⁴', mib(peakRss)],
      ['`classify` CLI, 4 bad files: peak RSS⁵', mib(Math.max(...badFiles.maxRssBytes))],
    ],
  };

  const machine = [
    `Command: ${command}`,
    `Date: ${new Date().toISOString()}`,
    `CPU: ${cpuModel()}, ${os.availableParallelism()} cores`,
    `Node ${process.version}, onnxruntime-node ${ort.env.versions.common}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})`,
  ];
  const about =
    `Random-weight AlexNet (torchvision layout, 3-class head) at 224×224, letterbox, ImageNet mean/std; ONNX Runtime with one thread per core (model.threads 0). ` +
    `Its answers mean nothing; its cost is real. Inputs are synthetic ${WIDTH}×${HEIGHT} gray radiographs (gradient, bright column, noise). ` +
    `Per-stage rows are \`classify().timingsMs\` over ${runs} runs after ${WARMUP_RUNS} warm-up runs; p95 interpolates between ranks.`;
  // Numbered to match the ¹²³⁴ marks in the tables.
  const notes = [
    'Manifest validation, SHA-256 of the ONNX file, session creation and one warm-up inference.',
    `From the rename into capture/ to the service's \`resultCommitted\` event (the lamp: the history and outbox rows are committed; the move to processed/ follows it), over ${captures} distinct JPEGs after ${CAPTURE_WARMUP} unmeasured ones; each window on a freshly started service with its own folders and database.`,
    "Latency minus that image's own classify total as recorded in the history database: watch event, stability window, read and hash, database commit (synchronous=FULL).",
    'Highest RSS of this process over the whole run; the model file is generated in a child process so its buffers do not count.',
    `\`node dist/cli.js classify\` (compiled from this checkout by the bench) on a truncated JPEG, a text file named .png, an SVG and a 40000×40000 PNG, ${BAD_FILE_RUNS} runs: start-up to exit, and the highest peak RSS of any run (target: under 2 s and 300 MB).`,
    `The shipped model (models/cspine-alexnet-demo: INT8 AlexNet with a CAM output, so the service also draws an overlay per image) on synthetic c-spine phantoms (\`synth\`), ${captures} after ${CAPTURE_WARMUP} unmeasured, each written under a hidden name and renamed into capture/ one at a time; from the rename to the lamp (the \`resultCommitted\` event, right after the history and outbox rows are committed). The pipeline total is that image's own decode … triage time from history: the target is lamp ≤ pipeline total + 15 ms with a window of 0.`,
    `All files renamed into capture/ at once from a folder on the same disk (default stableWindowMs), from the first rename to the last lamp, to the last file moved, and to the last overlay drawn (overlays wait until nothing has arrived for 250 ms; all but the newest two are drawn from the file kept in processed/, running the model on it again); \`classify DIR --json\` with the same model on the same files, from its first answer to its exit, scaled to all files. RSS is this process's (the service runs in it).`,
    `\`heatmapOverlay()\` on the decoded 16-bit PNG input with a 13×13 activation map: resize to 768 px on the long side, blend, encode (imaging.heatmapFormat); drawn after the lamp, never before it.`,
  ];

  console.log([...machine, '', textTable(latencyTable), '', textTable(burstTable), '', textTable(memoryTable), '', about, ...notes.map((note, i) => `${i + 1}. ${note}`)].join('\n'));

  const markdown = [
    '# Benchmarks',
    '',
    'Generated by `scripts/bench.ts`; rerun it rather than editing this file.',
    '',
    ...machine.map((line) => `- ${line.replace(/^Command: (.*)$/, 'Command: `$1`')}`),
    '',
    '## Latency',
    '',
    markdownTable(latencyTable),
    '',
    '## Burst',
    '',
    markdownTable(burstTable),
    '',
    '## Sizes and memory',
    '',
    markdownTable(memoryTable),
    '',
    '## Notes',
    '',
    about,
    '',
    ...notes.map((note, i) => `${i + 1}. ${note}`),
    '',
  ].join('\n');
  fs.mkdirSync(path.dirname(DOC), { recursive: true });
  fs.writeFileSync(DOC, markdown);
  console.log(`\nwrote ${path.relative(process.cwd(), DOC)}`);
}

function positiveInt(text: string, flag: string, minimum: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum) throw new Error(`${flag} needs a whole number ≥ ${minimum}, got "${text}"`);
  return value;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: 'string', default: '30' },
      captures: { type: 'string', default: '20' },
      burst: { type: 'string', default: '500' },
      // Internal: the child process that writes the model package.
      'write-model': { type: 'string' },
    },
  });
  if (values['write-model'] !== undefined) {
    const overrides = { preprocess: { resize: 'letterbox', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } } satisfies Partial<ModelManifest>;
    writeModelPackage(values['write-model'], { id: MODEL_ID, onnx: alexnetModel(), size: 224, overrides });
    return;
  }
  const runs = positiveInt(values.runs, '--runs', 1);
  const captures = positiveInt(values.captures, '--captures', 1);
  const burstFiles = positiveInt(values.burst, '--burst', 51);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-bench-'));
  try {
    await bench(root, runs, captures, burstFiles, `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.error(error);
  process.exitCode = 1;
});
