import fs from 'node:fs';
import pg from 'pg';
import type { Config } from '../../config/schema.js';
import { CspineError, ErrorCode, StoreError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Capability, CapabilityHealth } from '../../runtime/capability.js';
import { migrate } from './migrations.js';

/** SQLSTATE invalid_catalog_name: the database in the URL does not exist yet. */
const DATABASE_MISSING = '3D000';
const DUPLICATE_DATABASE = '42P04';

export type PostgresSettings = Config['dashboard']['postgres'];

/** node-postgres pool settings from the config: password from a file, TLS to managed servers. */
export function poolConfig(settings: PostgresSettings): pg.PoolConfig {
  const password = settings.passwordFile ? fs.readFileSync(settings.passwordFile, 'utf8').trim() : undefined;
  const { tls } = settings;
  return {
    connectionString: settings.url,
    max: settings.poolSize,
    ...(password !== undefined ? { password } : {}),
    ...(tls.enabled
      ? {
          ssl: {
            rejectUnauthorized: tls.rejectUnauthorized,
            ...(tls.ca ? { ca: fs.readFileSync(tls.ca, 'utf8') } : {}),
            ...(tls.cert ? { cert: fs.readFileSync(tls.cert, 'utf8') } : {}),
            ...(tls.key ? { key: fs.readFileSync(tls.key, 'utf8') } : {}),
          },
        }
      : {}),
    connectionTimeoutMillis: 10_000,
    // The server sees which process holds a connection (pg_stat_activity).
    application_name: 'cspine-dashboard',
  };
}

/** Where the URL points, without its password, for logs and errors. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return 'the configured server';
  }
}

/**
 * The dashboard's PostgreSQL: a connection pool, migrated to the newest schema at start. The
 * pool reconnects by itself, so a database restart costs failed queries (ingest retries them;
 * the page shows an error), never a dashboard restart.
 */
export class DashboardDatabase implements Capability {
  readonly name = 'postgres';
  private currentPool: pg.Pool | undefined;
  private lastError: string | undefined;

  constructor(
    private readonly settings: PostgresSettings,
    private readonly logger: Logger,
  ) {}

  get pool(): pg.Pool {
    if (!this.currentPool) throw new StoreError(ErrorCode.INTERNAL, 'the dashboard database is used before it was started');
    return this.currentPool;
  }

  async start(): Promise<void> {
    const pool = new pg.Pool(poolConfig(this.settings));
    // An idle connection cut by a database restart must not crash the process.
    pool.on('error', (error) => {
      this.lastError = error.message;
      this.logger.warn({ err: error.message }, 'PostgreSQL connection lost; the pool reconnects on next use');
    });
    let client: pg.PoolClient;
    try {
      client = await pool.connect().catch(async (error: unknown) => {
        if ((error as { code?: unknown }).code !== DATABASE_MISSING) throw error;
        await this.createDatabase();
        return pool.connect();
      });
    } catch (error) {
      await pool.end();
      throw new CspineError(ErrorCode.DASHBOARD_DATABASE_UNREACHABLE, `cannot connect to PostgreSQL at ${describeUrl(this.settings.url)}: ${(error as Error).message}`, { cause: error });
    }
    try {
      const { from, to } = await migrate(client);
      if (from !== to) this.logger.info({ from, to }, 'dashboard database migrated');
    } catch (error) {
      client.release();
      await pool.end();
      throw error;
    }
    client.release();
    this.currentPool = pool;
  }

  /** A first start on a fresh server: the database is made through the maintenance database "postgres". */
  private async createDatabase(): Promise<void> {
    const target = new URL(this.settings.url);
    const name = decodeURIComponent(target.pathname.slice(1));
    const maintenance = new URL(this.settings.url);
    maintenance.pathname = '/postgres';
    const client = new pg.Client({ ...poolConfig(this.settings), connectionString: maintenance.toString() });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      this.logger.info({ database: name }, 'created the dashboard database');
    } catch (error) {
      // Another dashboard process made it first.
      if ((error as { code?: unknown }).code !== DUPLICATE_DATABASE) throw error;
    } finally {
      await client.end();
    }
  }

  async stop(): Promise<void> {
    const pool = this.currentPool;
    this.currentPool = undefined;
    await pool?.end().catch(() => undefined);
  }

  /** Records the latest failure for health(); the caller decides whether to retry. */
  noteFailure(error: unknown): void {
    this.lastError = error instanceof Error ? error.message : String(error);
  }

  noteSuccess(): void {
    this.lastError = undefined;
  }

  health(): CapabilityHealth {
    if (!this.currentPool) return { status: 'off', detail: 'not started' };
    if (this.lastError) return { status: 'degraded', detail: `last error: ${this.lastError}` };
    return { status: 'ok', detail: `${describeUrl(this.settings.url)}, ${this.currentPool.totalCount} connections (${this.currentPool.idleCount} idle)` };
  }
}
