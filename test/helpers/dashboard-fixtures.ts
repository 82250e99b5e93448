/**
 * Dashboard test fixtures: payloads as devices send them (schemas/*.v1.json), written straight
 * into the dashboard's tables the way ingest stores them, so that the web side is tested without
 * MQTT; a started DashboardWeb on a free port; and an API client that keeps the session cookie.
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import { configSchema, type Config } from '../../src/config/schema.js';
import { Accounts, type Role } from '../../src/dashboard/database/accounts.js';
import { DashboardDatabase } from '../../src/dashboard/database/database.js';
import { createLogger } from '../../src/logger.js';
import type { CapabilityHealth } from '../../src/runtime/capability.js';
import { DashboardWeb } from '../../src/dashboard/web/web.js';

export type Level = 'GREEN' | 'AMBER' | 'RED';
type Queryable = Pick<pg.Pool, 'query'>;

const MODEL = { id: 'cspine-alexnet-demo', sha256: '4a1d6f0c2b9e8d7a5c3b1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b' };
const REASONS: Record<Level, { label: string; reason: string; probabilities: Record<string, number> }> = {
  RED: { label: 'fracture', reason: 'fracture suspected (P=87.0%)', probabilities: { normal: 0.08, fracture: 0.87, dislocation: 0.05 } },
  AMBER: { label: 'normal', reason: 'uncertain: top class below 70% (P=61.0%)', probabilities: { normal: 0.61, fracture: 0.27, dislocation: 0.12 } },
  GREEN: { label: 'normal', reason: 'no abnormality detected (P=96.0%)', probabilities: { normal: 0.96, fracture: 0.03, dislocation: 0.01 } },
};

function hex(bytes: number): string {
  return crypto.randomBytes(bytes).toString('hex');
}

export interface ResultOptions {
  deviceId?: string;
  level?: Level;
  /** rejected images are AMBER with an error code */
  rejected?: boolean;
  processedAt?: Date;
  /** a clear file name, as a device with sync.sendIdentifiers sends it */
  source?: string;
  dicom?: boolean;
  /** quality, OOD and orientation verdicts */
  verdicts?: boolean;
}

/** A result message valid against schemas/result.v1.json. */
export function resultPayload(options: ResultOptions = {}): Record<string, unknown> & { id: string; deviceId: string; processedAt: string } {
  const processedAt = options.processedAt ?? new Date();
  const level: Level = options.rejected ? 'AMBER' : (options.level ?? 'GREEN');
  const image: Record<string, unknown> = { sha256: hex(32), sourceRef: `file-${hex(16)}`, format: options.dicom ? 'dicom' : 'png', bytes: 1_483_221 };
  if (options.source !== undefined) image.source = options.source;
  if (options.dicom) {
    image.dicom = { studyRef: `study-${hex(16)}`, instanceRef: `sop-${hex(16)}`, modality: 'DX', bodyPart: 'CSPINE', viewPosition: 'LL', acquiredAt: '2025-03-01T10:15:02' };
  }
  const common = {
    schema: 'cspine.result.v1',
    id: crypto.randomUUID(),
    deviceId: options.deviceId ?? 'ambulance-7',
    image,
    receivedAt: new Date(processedAt.getTime() - 109).toISOString(),
    processedAt: processedAt.toISOString(),
  };
  if (options.rejected) {
    return {
      ...common,
      outcome: 'rejected',
      triage: { level: 'AMBER', reason: 'retake — the image is blank' },
      label: null,
      probabilities: null,
      model: null,
      timingsMs: null,
      error: { code: 'E_QUALITY_BLANK', message: 'the image is blank (dynamic range 0.01)' },
    };
  }
  const { label, reason, probabilities } = REASONS[level];
  return {
    ...common,
    outcome: 'classified',
    triage: { level, reason },
    label,
    probabilities,
    model: MODEL,
    timingsMs: { decode: 55.1, preprocess: 6.2, infer: 13.9, total: 75.2 },
    error: null,
    ...(options.verdicts
      ? {
          quality: { width: 1024, height: 1280, dynamicRange: 0.71, clippedHigh: 0, clippedLow: 0.08, structureShare: 0.93, colourfulness: 0 },
          ood: { method: 'msp+pca-residual', score: 0.41, threshold: 1, inDistribution: true, parts: { confidence: 0.02, residual: 0.41 } },
          orientation: {
            rotated: 180,
            inverted: false,
            asReceived: { method: 'msp+pca-residual', score: 24.9, threshold: 1, inDistribution: false, parts: { confidence: 0.3, residual: 24.9 } },
          },
        }
      : {}),
  };
}

/** Stores result messages as ingest does, then wakes the live feeds (`NOTIFY cspine_results`). */
export async function insertResults(db: Queryable, payloads: Array<Record<string, unknown>>, options: { notify?: boolean } = {}): Promise<void> {
  for (const payload of payloads) {
    const triage = payload.triage as { level: string };
    const model = payload.model as { id: string; sha256: string } | null;
    await db.query(
      `INSERT INTO results (id, device_id, processed_at, outcome, level, label, model_id, model_sha256, payload)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
      [payload.id, payload.deviceId, payload.processedAt, payload.outcome, triage.level, payload.label, model?.id ?? null, model?.sha256 ?? null, payload],
    );
  }
  if (options.notify ?? true) await db.query('NOTIFY cspine_results');
}

/** A health message valid against schemas/health.v1.json. */
export function healthPayload(deviceId: string, overrides: { lamp?: string | null; pending?: number; diskFreeBytes?: number | null; at?: Date } = {}): Record<string, unknown> {
  const at = overrides.at ?? new Date();
  return {
    schema: 'cspine.health.v1',
    id: crypto.randomUUID(),
    deviceId,
    at: at.toISOString(),
    version: '0.1.0',
    uptimeSec: 3662,
    lamp: { backend: 'simulated', level: overrides.lamp === undefined ? 'GREEN' : overrides.lamp },
    queueDepth: 0,
    outbox: { pending: overrides.pending ?? 0, oldestPendingAt: null, warnAt: 10000, overLimit: false },
    lastResultAt: new Date(at.getTime() - 60_000).toISOString(),
    model: MODEL,
    diskFreeBytes: overrides.diskFreeBytes === undefined ? 21_474_836_480 : overrides.diskFreeBytes,
    cpuTempC: 51.2,
  };
}

export interface DeviceOptions {
  state?: 'online' | 'offline';
  since?: Date;
  condition?: { state: 'starting' | 'ready' | 'fault'; code?: string; since: string };
  health?: Record<string, unknown> | null;
}

/** A devices row as ingest keeps it from status and health messages; wakes the live feeds (`NOTIFY cspine_devices`). */
export async function upsertDevice(db: Queryable, deviceId: string, options: DeviceOptions = {}): Promise<void> {
  const since = options.since ?? new Date(Date.now() - 3_600_000);
  const health = options.health === undefined ? healthPayload(deviceId) : options.health;
  await db.query(
    `INSERT INTO devices (device_id, state, state_at, state_since, condition, version, health, health_at)
     VALUES ($1, $2, $3, $3, $4, '0.1.0', $5, $6)
     ON CONFLICT (device_id) DO UPDATE SET state = $2, state_at = $3, state_since = $3, condition = $4, health = $5, health_at = $6`,
    [deviceId, options.state ?? 'online', since, options.condition ?? { state: 'ready', since: since.toISOString() }, health, health ? String(health.at) : null],
  );
  await db.query('NOTIFY cspine_devices');
}

export async function addUser(db: DashboardDatabase, name: string, role: Role, password: string): Promise<void> {
  await new Accounts(db, 12).addUser(name, role, password);
}

export type HttpSettings = Config['dashboard']['http'];

export interface RunningDashboard {
  web: DashboardWeb;
  database: DashboardDatabase;
  url: string;
  stop(): Promise<void>;
}

/** A database capability and a web server on a free loopback port, plain HTTP (secureCookies off). */
export async function startDashboardWeb(postgresUrl: string, http: Partial<HttpSettings> = {}, health?: () => Record<string, CapabilityHealth>): Promise<RunningDashboard> {
  const config = configSchema.parse({ dashboard: { postgres: { url: postgresUrl, poolSize: 4 }, http: { port: 0, secureCookies: false, ...http } } });
  const logger = createLogger('silent');
  const database = new DashboardDatabase(config.dashboard.postgres, logger);
  await database.start();
  const web: DashboardWeb = new DashboardWeb({
    settings: config.dashboard.http,
    database,
    postgres: config.dashboard.postgres,
    logger,
    health: health ?? (() => ({ postgres: database.health(), web: web.health() })),
  });
  try {
    await web.start();
  } catch (error) {
    await database.stop();
    throw error;
  }
  return {
    web,
    database,
    url: web.url,
    async stop() {
      await web.stop();
      await database.stop();
    },
  };
}

/** Speaks to the API as the page does: the session cookie, and the CSRF token on writes. */
export class ApiClient {
  private cookie: string | undefined;
  csrfToken: string | undefined;

  constructor(readonly baseUrl: string) {}

  async login(username: string, password: string): Promise<Response> {
    const response = await this.request('POST', '/api/login', { username, password });
    if (response.ok) {
      const setCookie = response.headers.get('set-cookie') ?? '';
      this.cookie = setCookie.split(';')[0];
      this.csrfToken = ((await response.clone().json()) as { csrfToken: string }).csrfToken;
    }
    return response;
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.request('GET', path, undefined, headers);
  }

  /** With the session's CSRF token unless `headers` says otherwise. */
  post(path: string, body?: unknown, headers: Record<string, string> = this.csrfToken ? { 'X-CSRF-Token': this.csrfToken } : {}): Promise<Response> {
    return this.request('POST', path, body, headers);
  }

  async json<T = Record<string, unknown>>(path: string): Promise<T> {
    const response = await this.get(path);
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(new URL(path, this.baseUrl), {
      method,
      headers: {
        ...(this.cookie ? { Cookie: this.cookie } : {}),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
}
