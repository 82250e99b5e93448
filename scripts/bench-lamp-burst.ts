/**
 * The two service measurements of `npm run bench` that need the shipped model (its CAM output
 * makes the service draw an overlay per image): lamp latency (a file renamed into capture/ →
 * the lamp changes) for PNG and 5-Mpixel DICOM, and burst throughput (many files dropped at
 * once through the service against `classify` on the same files).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { configSchema, type Config } from '../src/config/schema.js';
import { SimulatedIndicators } from '../src/indicators/simulated.js';
import { createLogger } from '../src/logger.js';
import { Service } from '../src/service.js';
import { openDatabase } from '../src/store/database.js';
import { History } from '../src/store/history.js';
import { dicomFile } from '../src/tools/fixtures/dicom.js';
import { PHANTOM_LABELS, phantomParams, renderPhantom } from '../src/tools/synth/generate.js';

const MODELS = fileURLToPath(new URL('../models', import.meta.url));
const MODEL_ID = 'cspine-alexnet-demo';
/** Distinct phantoms rendered; more files are these with a per-file mark, so each has its own SHA-256. */
const RENDERED = 6;

export type InputKind = 'png' | 'dicom';

/** The model package a measurement runs: the shipped one unless said otherwise. */
export interface ModelChoice {
  dir: string;
  id: string;
}

export const SHIPPED_MODEL: ModelChoice = { dir: MODELS, id: MODEL_ID };

export interface LampLatency {
  stableWindowMs: number;
  /** rename → lamp. */
  latency: number[];
  /** Each image's own pipeline total from history (decode … triage). */
  pipeline: number[];
}

export interface Burst {
  files: number;
  serviceLampsMs: number;
  /** Every file moved out of capture/. */
  serviceFinishedMs: number;
  /** Every overlay drawn: after the last arrival, once quiet, most of them from the kept file. */
  serviceOverlaysMs: number;
  classifyMs: number;
  rssAfter50: number;
  rssAfterAll: number;
}

/** 1024×1280 16-bit PNG phantoms, or 2048×2560 (5.2 Mpixel) 16-bit uncompressed DICOM ones. */
export async function phantomFiles(kind: InputKind, count: number): Promise<Buffer[]> {
  const [width, height] = kind === 'png' ? [1024, 1280] : [2048, 2560];
  const bases = Array.from({ length: Math.min(RENDERED, count) }, (_, i) => {
    const phantom = renderPhantom(phantomParams(7000 + i, PHANTOM_LABELS[i % PHANTOM_LABELS.length]!, width, height));
    return Uint16Array.from(phantom.pixels, (value) => Math.round(value * 65535));
  });
  const files: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const samples = bases[i % bases.length]!.slice();
    // A one-pixel mark in a corner: its own hash, the same image to the model.
    samples[i] = samples[i]! ^ 1;
    files.push(
      kind === 'png'
        ? await sharp(samples, { raw: { width, height, channels: 1 } }).toColourspace('grey16').png({ compressionLevel: 1 }).toBuffer()
        : dicomFile({ rows: height, columns: width, pixels: samples, bitsStored: 16, modality: 'DX', bodyPart: 'CSPINE', viewPosition: 'LL', sopInstanceUid: `1.2.826.0.1.3680043.10.1091.9.${i + 1}` }),
    );
  }
  return files;
}

function serviceConfig(dir: string, stableWindowMs: number, model: ModelChoice = SHIPPED_MODEL): Config {
  return configSchema.parse({
    log: { level: 'silent' },
    capture: { dir: path.join(dir, 'capture'), processedDir: path.join(dir, 'processed'), rejectedDir: path.join(dir, 'rejected'), stableWindowMs, maxQueue: 1000 },
    model: { dir: model.dir, id: model.id },
    store: { path: path.join(dir, 'cspine.db') },
    privacy: { siteSecretFile: path.join(dir, 'site-secret') },
    imaging: { heatmapDir: path.join(dir, 'heatmaps') },
    indicators: { render: false, lampTestAtStart: false },
  });
}

async function startedService(config: Config): Promise<{ service: Service; lamps: Map<string, number>; finished: Map<string, number>; overlays: Map<string, number> }> {
  const service = new Service(config, createLogger('silent'), new SimulatedIndicators());
  const lamps = new Map<string, number>();
  const finished = new Map<string, number>();
  service.bus.on('resultCommitted', lamps, ({ file }) => lamps.set(file, performance.now()));
  service.bus.on('imageFinished', finished, ({ file }) => finished.set(file, performance.now()));
  const overlays = new Map<string, number>();
  service.bus.on('overlayDrawn', overlays, ({ sha256 }) => overlays.set(sha256, performance.now()));
  const faults: string[] = [];
  service.bus.on('faultRaised', faults, (fault) => faults.push(`${fault.code}: ${fault.message}`));
  // start() resolves even when the model fails to load (the service then waits at FAULT).
  await service.start();
  if (faults.length > 0) throw new Error(`the service is at FAULT: ${faults[0]}`);
  return { service, lamps, finished, overlays };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Each file written under a hidden name and renamed into place, one at a time, as an uploader
 * does, into a freshly started service; the first `warmup` are not measured. Files are named
 * `xray-NNN.<ext>`.
 */
export async function timeLamp(root: string, files: readonly Buffer[], options: { ext: string; stableWindowMs: number; warmup: number; model?: ModelChoice }, progress: (message: string) => void): Promise<LampLatency> {
  const { ext, stableWindowMs, warmup } = options;
  const dir = path.join(root, `lamp-${ext}-${stableWindowMs}-${options.model?.id ?? MODEL_ID}`);
  const config = serviceConfig(dir, stableWindowMs, options.model);
  const { service, lamps } = await startedService(config);
  const latency: number[] = [];
  const names: string[] = [];
  try {
    for (const [i, bytes] of files.entries()) {
      progress(`lamp latency, ${ext}, window ${stableWindowMs} ms, ${i < warmup ? 'warm-up' : `${i + 1 - warmup}/${files.length - warmup}`}`);
      const name = `xray-${String(i).padStart(3, '0')}.${ext}`;
      const temporary = path.join(config.capture.dir, `.${name}.tmp`);
      fs.writeFileSync(temporary, bytes);
      fs.renameSync(temporary, path.join(config.capture.dir, name));
      const renamedAt = performance.now();
      await until(() => lamps.has(name), 60_000, `the lamp for ${name}`);
      if (i < warmup) continue;
      latency.push(lamps.get(name)! - renamedAt);
      names.push(name);
    }
  } finally {
    await service.stop();
  }
  const db = openDatabase(config.store.path, { readonly: true });
  try {
    const history = new History(db);
    const bySource = new Map(history.recent(files.length).map((entry) => [entry.source, entry]));
    const pipeline = names.map((name) => bySource.get(name)?.timingsMs?.['total'] ?? Number.NaN);
    return { stableWindowMs, latency, pipeline };
  } finally {
    db.close();
  }
}

/**
 * `files` PNG phantoms dropped into capture/ at once (renamed in from a staging folder) through a
 * started service, until every lamp has changed and every file is finished; then `classify` on
 * the same files, timed from its first result line (after its model load) to its exit.
 */
export async function timeBurst(root: string, cli: string, count: number, progress: (message: string) => void): Promise<Burst> {
  const dir = path.join(root, 'burst');
  const staging = path.join(dir, 'staging');
  fs.mkdirSync(staging, { recursive: true });
  progress(`burst: writing ${count} files`);
  // Written to disk and let go: hundreds of megabytes held here would tax the service's GC.
  const names = (await phantomFiles('png', count)).map((bytes, i) => {
    const name = `burst-${String(i).padStart(4, '0')}.png`;
    fs.writeFileSync(path.join(staging, name), bytes);
    return name;
  });

  const config = serviceConfig(dir, configSchema.parse({}).capture.stableWindowMs);
  const { service, lamps, finished, overlays } = await startedService(config);
  let rssAfter50 = 0;
  const watch50 = setInterval(() => {
    if (rssAfter50 === 0 && lamps.size >= 50) rssAfter50 = process.memoryUsage().rss;
  }, 1);
  let serviceLampsMs: number;
  let serviceFinishedMs: number;
  let serviceOverlaysMs: number;
  let rssAfterAll: number;
  try {
    // Renamed in from the same filesystem: all of them there at once, no copying timed.
    const started = performance.now();
    for (const name of names) fs.renameSync(path.join(staging, name), path.join(config.capture.dir, name));
    await until(
      () => {
        progress(`burst: service ${lamps.size}/${count} lamps, ${finished.size} moved`);
        return finished.size === count;
      },
      30 * 60_000,
      'the burst through the service',
    );
    rssAfterAll = process.memoryUsage().rss;
    await until(
      () => {
        progress(`burst: service ${overlays.size}/${count} overlays`);
        return overlays.size === count;
      },
      30 * 60_000,
      'every overlay of the burst',
    );
    serviceLampsMs = Math.max(...lamps.values()) - started;
    serviceFinishedMs = Math.max(...finished.values()) - started;
    serviceOverlaysMs = Math.max(...overlays.values()) - started;
  } finally {
    clearInterval(watch50);
    await service.stop();
  }

  progress(`burst: classify on the same ${count} files`);
  const classifyMs = await new Promise<number>((resolve, reject) => {
    // The service has moved them to processed/<date>/.
    const child = spawn(process.execPath, [cli, 'classify', config.capture.processedDir, '--json'], {
      env: { ...process.env, CSPINE_MODEL__DIR: MODELS, CSPINE_MODEL__ID: MODEL_ID },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let firstLineAt: number | undefined;
    let lines = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      firstLineAt ??= performance.now();
      lines += chunk.toString().split('\n').length - 1;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 && code !== 2) return reject(new Error(`classify exited ${code}`));
      if (lines !== count || firstLineAt === undefined) return reject(new Error(`classify answered ${lines} of ${count} files`));
      // From the first answer: its model load is not part of the rate, as the service's is not.
      resolve(((performance.now() - firstLineAt) * count) / (count - 1));
    });
  });
  return { files: count, serviceLampsMs, serviceFinishedMs, serviceOverlaysMs, classifyMs, rssAfter50, rssAfterAll };
}

/**
 * Run on its own (`npx tsx scripts/bench-lamp-burst.ts [BURST_FILES]`, after `npm run build`) it
 * prints lamp latency with a window of 0 for PNG and DICOM and one burst: the quick comparison of
 * two checkouts in docs/benchmarks-lamp.md, run alternately in each.
 */
async function main(): Promise<void> {
  const { quantile } = await import('../src/tools/bench/bench.js');
  const files = Number(process.argv[2] ?? '200');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-lamp-burst-'));
  const quiet = () => undefined;
  try {
    for (const kind of ['png', 'dicom'] as const) {
      const lamp = await timeLamp(root, await phantomFiles(kind, 22), { ext: kind === 'png' ? 'png' : 'dcm', stableWindowMs: 0, warmup: 2 }, quiet);
      console.log(`lamp ${kind}, window 0\tp50 ${quantile(lamp.latency, 0.5).toFixed(1)} ms\tp95 ${quantile(lamp.latency, 0.95).toFixed(1)} ms\tpipeline p50 ${quantile(lamp.pipeline, 0.5).toFixed(1)} ms`);
    }
    const burst = await timeBurst(root, fileURLToPath(new URL('../dist/cli.js', import.meta.url)), files, quiet);
    console.log(`burst of ${files}\tlamps ${(burst.serviceLampsMs / 1000).toFixed(1)} s\tall moved ${(burst.serviceFinishedMs / 1000).toFixed(1)} s\tall overlays ${(burst.serviceOverlaysMs / 1000).toFixed(1)} s\tclassify ${(burst.classifyMs / 1000).toFixed(1)} s\tratio ${(burst.classifyMs / burst.serviceLampsMs).toFixed(2)}\tRSS ${(burst.rssAfter50 / 2 ** 20).toFixed(0)} → ${(burst.rssAfterAll / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
