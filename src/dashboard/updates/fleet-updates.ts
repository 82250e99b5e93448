import type pg from 'pg';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../logger.js';
import { CommandPublisher } from './command-publisher.js';
import { CommandQueue } from './command-queue.js';
import { RolloutDispatcher } from './dispatcher.js';
import { PackageStore } from './package-store.js';
import { Rollouts } from './rollouts.js';

export interface FleetUpdates {
  packages: PackageStore;
  rollouts: Rollouts;
  dispatcher: RolloutDispatcher;
}

/**
 * The parts of fleet model updates over one database, wired together: for the dashboard
 * process (`owner` its instance) and for the command line (`owner` the CLI process).
 */
export function fleetUpdates(settings: Config['dashboard'], database: { readonly pool: pg.Pool }, logger: Logger, owner: string): FleetUpdates {
  const packages = new PackageStore(database, settings.updates);
  const rollouts = new Rollouts(database, settings.updates, packages);
  const dispatcher = new RolloutDispatcher({
    rollouts,
    queue: new CommandQueue(database, owner),
    publisher: new CommandPublisher(settings.mqtt, `cspine-dashboard-${owner}-commands`, logger),
    logger,
  });
  return { packages, rollouts, dispatcher };
}
