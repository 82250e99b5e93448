import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { ExecutionContext } from 'ava';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { brightnessModel, writeModelPackage } from './onnx-models.js';

/** A fresh folder removed when the test ends. */
export function tempDir(t: ExecutionContext, prefix = 'cspine-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const MODEL_ID = 'brightness-test';
/** The reference model package shipped in the repository (models/cspine-alexnet-demo), as a `model` config override. */
export const SHIPPED_MODEL = { dir: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models'), id: 'cspine-alexnet-demo' };

/** A workspace with capture/, data/ and a brightness model package, and its config (quality gate off unless overridden). */
export function workspace(t: ExecutionContext, overrides: ConfigInput = {}): { root: string; config: Config } {
  const root = tempDir(t);
  writeModelPackage(path.join(root, 'models'), { id: MODEL_ID, onnx: brightnessModel(), size: 16 });
  const config = configSchema.parse({
    ...overrides,
    capture: {
      dir: path.join(root, 'capture'),
      processedDir: path.join(root, 'data/processed'),
      rejectedDir: path.join(root, 'data/rejected'),
      stableWindowMs: 100,
      ...overrides.capture,
    },
    model: { dir: path.join(root, 'models'), id: MODEL_ID, threads: 1, ...overrides.model },
    store: { path: path.join(root, 'data/cspine.db'), ...overrides.store },
    privacy: { siteSecretFile: path.join(root, 'data/site-secret'), ...overrides.privacy },
    imaging: { heatmapDir: path.join(root, 'data/heatmaps'), ...overrides.imaging },
    // The brightness model's inputs are near-uniform 64×48 frames, which the image-quality gate
    // rightly refuses; tests of the gate itself pass `quality: { enabled: true }`.
    quality: { enabled: false, ...overrides.quality },
    indicators: { backend: 'simulated', render: false, lampTestAtStart: false },
    log: { level: 'debug' },
  });
  return { root, config };
}

/** The same settings as environment variables, for child processes. */
export function configEnv(config: Config): NodeJS.ProcessEnv {
  return {
    CSPINE_CAPTURE__DIR: config.capture.dir,
    CSPINE_CAPTURE__PROCESSED_DIR: config.capture.processedDir,
    CSPINE_CAPTURE__REJECTED_DIR: config.capture.rejectedDir,
    CSPINE_CAPTURE__STABLE_WINDOW_MS: String(config.capture.stableWindowMs),
    CSPINE_MODEL__DIR: config.model.dir,
    CSPINE_MODEL__ID: config.model.id,
    CSPINE_MODEL__THREADS: String(config.model.threads),
    CSPINE_STORE__PATH: config.store.path,
    CSPINE_PRIVACY__SITE_SECRET_FILE: config.privacy.siteSecretFile,
    CSPINE_IMAGING__HEATMAP_DIR: config.imaging.heatmapDir,
    CSPINE_QUALITY__ENABLED: String(config.quality.enabled),
    CSPINE_INDICATORS__RENDER: 'false',
    CSPINE_INDICATORS__BACKEND: 'simulated',
    CSPINE_INDICATORS__LAMP_TEST_AT_START: 'false',
  };
}

export interface CapturedLog {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
}

/** A real pino logger whose JSON lines the test can read. */
export function capturedLogger(): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('debug', sink), lines };
}

/**
 * A gray image of the given brightness (0..255) with a little texture from `seed`, so
 * equal brightness still gives distinct files. The brightness model maps ~230 → normal
 * (GREEN), ~115 → fracture (RED), ~30 → dislocation (RED), ~150 → low confidence (AMBER).
 */
export async function grayImage(
  brightness: number,
  options: { width?: number; height?: number; format?: 'png' | 'jpeg' | 'tiff' | 'webp'; seed?: number } = {},
): Promise<Buffer> {
  const { width = 64, height = 48, format = 'png', seed = 0 } = options;
  const pixels = Buffer.alloc(width * height, brightness);
  for (let i = 0; i < 8; i++) pixels[(seed * 7919 + i * 104729) % pixels.length] = (brightness + 1 + i) % 256;
  const image = sharp(pixels, { raw: { width, height, channels: 1 } });
  return format === 'jpeg' ? image.jpeg({ quality: 95 }).toBuffer() : image.toFormat(format).toBuffer();
}

export async function waitFor<T>(probe: () => T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Files below `dir`, relative, sorted; [] when it does not exist. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile() || entry.isSymbolicLink())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/**
 * A real, valid PNG of width × height 1-bit gray pixels, all black, a few hundred KB on
 * disk: a decompression bomb.
 */
export function hugePng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(zlib.crc32(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth
  header[9] = 0; // grayscale
  // Each row is a filter byte plus width/8 bytes of zeros; zeros compress about 1000:1.
  const data = zlib.deflateSync(Buffer.alloc((1 + Math.ceil(width / 8)) * height), { level: 9 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', data), chunk('IEND', Buffer.alloc(0))]);
}

/** An uncompressed 16-bit grayscale TIFF (sharp writes TIFF at 8 bits only). */
export function gray16Tiff(width: number, height: number, samples: Uint16Array): Buffer {
  const tags: Array<[tag: number, type: 3 | 4, value: number]> = [
    [256, 4, width], // ImageWidth
    [257, 4, height], // ImageLength
    [258, 3, 16], // BitsPerSample
    [259, 3, 1], // Compression: none
    [262, 3, 1], // Photometric: black is zero
    [273, 4, 0], // StripOffsets, patched below
    [277, 3, 1], // SamplesPerPixel
    [278, 4, height], // RowsPerStrip
    [279, 4, width * height * 2], // StripByteCounts
  ];
  const ifdSize = 2 + tags.length * 12 + 4;
  const dataOffset = 8 + ifdSize;
  const out = Buffer.alloc(dataOffset + width * height * 2);
  out.write('II', 0, 'latin1');
  out.writeUInt16LE(42, 2);
  out.writeUInt32LE(8, 4);
  out.writeUInt16LE(tags.length, 8);
  tags.forEach(([tag, type, value], i) => {
    const at = 10 + i * 12;
    out.writeUInt16LE(tag, at);
    out.writeUInt16LE(type, at + 2);
    out.writeUInt32LE(1, at + 4);
    const stored = tag === 273 ? dataOffset : value;
    if (type === 3) out.writeUInt16LE(stored, at + 8);
    else out.writeUInt32LE(stored, at + 8);
  });
  for (let i = 0; i < samples.length; i++) out.writeUInt16LE(samples[i]!, dataOffset + i * 2);
  return out;
}

/**
 * The four inputs the acceptance criteria name: a truncated JPEG, a text file named .png, an SVG
 * and a 40000×40000 PNG. Written into `dir`; returns their paths in that order.
 */
export async function writeBadFiles(dir: string): Promise<string[]> {
  const jpeg = await grayImage(120, { width: 512, height: 512, format: 'jpeg', seed: 5 });
  const files = {
    'truncated.jpg': jpeg.subarray(0, Math.floor(jpeg.length / 2)),
    'text.png': Buffer.from('Patient: nobody\nthis is not an image\n'),
    'drawing.svg': Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="40000" height="40000"><rect width="100%" height="100%"/></svg>'),
    'bomb.png': hugePng(40000, 40000),
  };
  fs.mkdirSync(dir, { recursive: true });
  return Object.entries(files).map(([name, bytes]) => {
    fs.writeFileSync(path.join(dir, name), bytes);
    return path.join(dir, name);
  });
}
