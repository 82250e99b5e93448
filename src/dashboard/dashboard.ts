import type { Config } from '../config/schema.js';
import { JobScheduler } from '../jobs/scheduler.js';
import type { Logger } from '../logger.js';
import type { CapabilityHealth } from '../runtime/capability.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import { DashboardDatabase } from './database/database.js';
import { pruneDashboard } from './database/retention.js';
import { Ingest } from './ingest/ingest.js';
import { fleetUpdates } from './updates/fleet-updates.js';
import { DashboardWeb } from './web/web.js';

/**
 * The central process (`cspine-edge dashboard`): its capabilities in start order, stopped in
 * reverse. The database comes first (migrated before anything reads or writes), then ingest,
 * so that messages flow before the page opens, then the rollouts' dispatcher, then the page,
 * then the nightly retention. Stopping runs the other way: the page closes, the dispatcher
 * hands the commands it was sending back to the others, ingest finishes the batch it is writing
 * and leaves the rest unacknowledged at the broker, and the pool closes last.
 */
export class Dashboard {
  readonly database: DashboardDatabase;
  readonly ingest: Ingest;
  readonly web: DashboardWeb;
  private readonly lifecycle: Lifecycle;

  constructor(config: Config, logger: Logger) {
    const settings = config.dashboard;
    this.database = new DashboardDatabase(settings.postgres, logger);
    const updates = fleetUpdates(settings, this.database, logger, settings.instanceId);
    const wake = () => updates.dispatcher.wake();
    this.ingest = new Ingest(settings, this.database, logger, { onUpdateReports: wake });
    this.web = new DashboardWeb({
      settings: settings.http,
      database: this.database,
      postgres: settings.postgres,
      updates: { packages: updates.packages, rollouts: updates.rollouts, settings: settings.updates, onRolloutChange: wake },
      logger,
      health: () => this.health(),
    });
    const jobs = new JobScheduler(logger).add('dashboard-retention', settings.retention.schedule, async () => {
      const pruned = await pruneDashboard(this.database.pool, settings.retention);
      logger.info(pruned, 'dashboard retention');
    });
    this.lifecycle = new Lifecycle([this.database, this.ingest, updates.dispatcher, this.web, jobs], logger);
  }

  start(): Promise<void> {
    return this.lifecycle.start();
  }

  stop(): Promise<void> {
    return this.lifecycle.stop();
  }

  health(): Record<string, CapabilityHealth> {
    return Object.fromEntries(this.lifecycle.health().map(({ name, ...health }) => [name, health]));
  }
}
