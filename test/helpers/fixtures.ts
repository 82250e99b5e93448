import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { ExecutionContext } from 'ava';
import { fileURLToPath } from 'node:url';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { brightnessModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';

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
