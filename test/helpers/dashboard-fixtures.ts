/**
 * Dashboard test fixtures: payloads as devices send them (schemas/*.v1.json), written straight
 * into the dashboard's tables the way ingest stores them, so that the web side is tested without
 * MQTT; a started DashboardWeb on a free port; and an API client that keeps the session cookie.
 */
import type pg from 'pg';
import { configSchema, type Config } from '../../src/config/schema.js';
import { Accounts, type Role } from '../../src/dashboard/database/accounts.js';
import { CHANNEL } from '../../src/dashboard/database/channels.js';
import { DashboardDatabase } from '../../src/dashboard/database/database.js';
import { createLogger } from '../../src/logger.js';
import type { CapabilityHealth } from '../../src/runtime/capability.js';
import { fleetUpdates, type FleetUpdates } from '../../src/dashboard/updates/fleet-updates.js';
import { DashboardWeb } from '../../src/dashboard/web/web.js';
import type { HealthPayload, ResultPayload } from '../../src/sync/payloads.js';
import { simulatedHealth, simulatedResult, type Level, type SimulatedResultOptions } from '../../src/tools/fixtures/payloads.js';

type Queryable = Pick<pg.Pool, 'query'>;

export interface ResultOptions extends SimulatedResultOptions {
  deviceId?: string;
  level?: Level;
}

/** A result message valid against schemas/result.v1.json (ambulance-7, GREEN unless told). */
export function resultPayload(options: ResultOptions = {}): ResultPayload {
  return simulatedResult(options.deviceId ?? 'ambulance-7', options.level ?? 'GREEN', options);
}

/** Stores result messages as ingest does, then wakes the live feeds (`NOTIFY cspine_results`). */
export async function insertResults(db: Queryable, payloads: ResultPayload[], options: { notify?: boolean } = {}): Promise<void> {
  for (const payload of payloads) {
    const triage = payload.triage as { level: string };
    const model = payload.model as { id: string; sha256: string } | null;
    await db.query(
      `INSERT INTO results (id, device_id, processed_at, outcome, level, label, model_id, model_sha256, payload)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
      [payload.id, payload.deviceId, payload.processedAt, payload.outcome, triage.level, payload.label, model?.id ?? null, model?.sha256 ?? null, payload],
    );
  }
  if (options.notify ?? true) await db.query(`NOTIFY ${CHANNEL.results}`);
}

export interface DeviceOptions {
  state?: 'online' | 'offline';
  since?: Date;
  condition?: { state: 'starting' | 'ready' | 'fault'; code?: string; since: string };
  health?: HealthPayload | null;
}

/** A devices row as ingest keeps it from status and health messages; wakes the live feeds (`NOTIFY cspine_devices`). */
export async function upsertDevice(db: Queryable, deviceId: string, options: DeviceOptions = {}): Promise<void> {
  const since = options.since ?? new Date(Date.now() - 3_600_000);
  const health = options.health === undefined ? simulatedHealth(deviceId) : options.health;
  await db.query(
    `INSERT INTO devices (device_id, state, state_at, state_since, condition, version, health, health_at)
     VALUES ($1, $2, $3, $3, $4, '0.1.0', $5, $6)
     ON CONFLICT (device_id) DO UPDATE SET state = $2, state_at = $3, state_since = $3, condition = $4, health = $5, health_at = $6`,
    [deviceId, options.state ?? 'online', since, options.condition ?? { state: 'ready', since: since.toISOString() }, health, health ? String(health.at) : null],
  );
  await db.query(`NOTIFY ${CHANNEL.devices}`);
}

export async function addUser(db: DashboardDatabase, name: string, role: Role, password: string): Promise<void> {
  await new Accounts(db, 12).addUser(name, role, password);
}

export type HttpSettings = Config['dashboard']['http'];

export interface RunningDashboard {
  web: DashboardWeb;
  database: DashboardDatabase;
  /** Packages, rollouts and a dispatcher that is not started (start it to publish commands). */
  updates: FleetUpdates;
  url: string;
  stop(): Promise<void>;
}

/** More of the dashboard's settings, for the tests of model updates. */
export interface MoreSettings {
  updates?: Partial<Config['dashboard']['updates']>;
  mqtt?: Partial<Config['dashboard']['mqtt']>;
}

/** A database capability and a web server on a free loopback port, plain HTTP (secureCookies off). */
export async function startDashboardWeb(postgresUrl: string, http: Partial<HttpSettings> = {}, health?: () => Record<string, CapabilityHealth>, more: MoreSettings = {}): Promise<RunningDashboard> {
  const config = configSchema.parse({ dashboard: { instanceId: 'test-web', postgres: { url: postgresUrl, poolSize: 4 }, http: { port: 0, secureCookies: false, ...http }, ...more } });
  const logger = createLogger('silent');
  const database = new DashboardDatabase(config.dashboard.postgres, logger);
  await database.start();
  const updates = fleetUpdates(config.dashboard, database, logger, config.dashboard.instanceId);
  const web: DashboardWeb = new DashboardWeb({
    settings: config.dashboard.http,
    database,
    postgres: config.dashboard.postgres,
    updates: { packages: updates.packages, rollouts: updates.rollouts, settings: config.dashboard.updates, onRolloutChange: () => updates.dispatcher.wake() },
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
    updates,
    url: web.url,
    async stop() {
      await web.stop();
      await updates.dispatcher.stop();
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
