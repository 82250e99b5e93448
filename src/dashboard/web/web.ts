import type { AddressInfo } from 'node:net';
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import type { Config } from '../../config/schema.js';
import { CspineError, ErrorCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Capability, CapabilityHealth } from '../../runtime/capability.js';
import { Accounts } from '../database/accounts.js';
import type { DashboardDatabase } from '../database/database.js';
import { DashboardQueries } from '../database/queries.js';
import { createApp } from './app.js';
import { LiveFeed } from './live-feed.js';
import { LoginLimiter } from './login-limiter.js';
import { readPageFiles } from './static-page.js';
import type { UpdatesParts } from './updates-routes.js';

export interface DashboardWebOptions {
  settings: Config['dashboard']['http'];
  database: DashboardDatabase;
  /** For the live feed's own LISTEN connection, outside the pool. */
  postgres: Config['dashboard']['postgres'];
  /** Packages and rollouts: the API, the page's panel and the devices' downloads. */
  updates: UpdatesParts;
  logger: Logger;
  /** Every part of the process, for GET /healthz. */
  health: () => Record<string, CapabilityHealth>;
}

interface Running {
  server: ServerType;
  feed: LiveFeed;
  port: number;
}

/** The page and the JSON API on dashboard.http.host:port (docs/dashboard.md). */
export class DashboardWeb implements Capability {
  readonly name = 'web';
  private running: Running | undefined;

  constructor(private readonly options: DashboardWebOptions) {}

  /** The bound port (the chosen one when the setting is 0); only after start(). */
  get port(): number {
    if (!this.running) throw new CspineError(ErrorCode.INTERNAL, 'the dashboard web server has not started');
    return this.running.port;
  }

  /** http://host:port, for logs and tests. */
  get url(): string {
    const host = this.options.settings.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  async start(): Promise<void> {
    const { settings, database, postgres, updates, logger } = this.options;
    const queries = new DashboardQueries(database);
    const feed = new LiveFeed(postgres, queries, updates.rollouts, logger);
    const app = createApp({
      accounts: new Accounts(database, settings.sessionHours),
      queries,
      feed,
      updates,
      limiter: new LoginLimiter(settings.loginAttemptsPerMinute),
      page: await readPageFiles(),
      cookies: settings,
      trustProxy: settings.trustProxy,
      logger,
      health: this.options.health,
    });
    const server = createAdaptorServer({ fetch: app.fetch });
    const port = await listen(server, settings.host, settings.port);
    feed.start();
    this.running = { server, feed, port };
    logger.info({ url: this.url }, 'dashboard page and API listening');
  }

  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    if (!running) return;
    // The live streams never end by themselves: close them, or the server waits for them forever.
    await running.feed.stop();
    await new Promise<void>((resolve) => {
      running.server.close(() => resolve());
      if ('closeAllConnections' in running.server) running.server.closeAllConnections();
    });
  }

  health(): CapabilityHealth {
    if (!this.running) return { status: 'off', detail: 'not started' };
    const feed = this.running.feed.health();
    return { status: feed.status === 'ok' ? 'ok' : 'degraded', detail: `${this.url}; ${feed.detail}` };
  }
}

function listen(server: ServerType, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => {
      reject(new CspineError(ErrorCode.DASHBOARD_HTTP_BIND_FAILED, `the dashboard cannot listen on ${host}:${port}: ${error.message}`, { cause: error }));
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
