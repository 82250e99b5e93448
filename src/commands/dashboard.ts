import { createLogger } from '../logger.js';
import { commandConfig, CONFIG_OPTION, defineCommand } from './options.js';
import { serveUntilSignal } from './serve.js';

// cspine-edge dashboard: the central process. Its modules (PostgreSQL, the web server) are
// imported here, when the command runs, so the device process never loads them.
export const dashboard = defineCommand({
  synopsis: 'dashboard [--config FILE]',
  about: `The central dashboard, until SIGINT/SIGTERM: subscribes to every device's messages on the broker
(dashboard.mqtt), keeps them in PostgreSQL (dashboard.postgres) and serves the page and JSON API
(dashboard.http). Several processes with different dashboard.instanceId share the load. Users:
cspine-edge dashboard user --help. See docs/dashboard.md.`,
  options: CONFIG_OPTION,
  run: async ({ values }) => {
    const config = commandConfig(values);
    const logger = createLogger(config.log.level);
    const { Dashboard } = await import('../dashboard/dashboard.js');
    const central = new Dashboard(config, logger);
    return serveUntilSignal(central, logger, { stopping: 'stopping: finishing the batch being written', abandoned: 'unwritten messages stay unacknowledged at the broker' });
  },
});
