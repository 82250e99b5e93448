import type { Config } from '../config/schema.js';
import { installFailSafe } from '../indicators/fail-safe.js';
import { selectIndicators } from '../indicators/select.js';
import { createLogger } from '../logger.js';
import { Service } from '../service.js';
import { commandConfig, CONFIG_OPTION, defineCommand } from './options.js';
import { serveUntilSignal } from './serve.js';

/** The long-running service: returns when SIGINT/SIGTERM has finished the image in flight. */
export async function runCommand(config: Config): Promise<number> {
  const logger = createLogger(config.log.level);
  const { indicators, button, reason } = selectIndicators(config.indicators);
  installFailSafe(indicators, logger);
  logger.info({ backend: indicators.backend, reason }, 'lamps');
  const service = new Service(config, logger, indicators, { button });
  return serveUntilSignal(service, logger, { stopping: 'stopping after the image in flight', abandoned: 'the image in flight is redone after restart' });
}

// Command line (cspine-edge run): options, usage and help; the service itself is runCommand.
export const run = defineCommand({
  synopsis: 'run',
  about: 'Watches the capture folder and classifies what lands there, until SIGINT/SIGTERM (npm start; the systemd unit).',
  options: CONFIG_OPTION,
  run: ({ values }) => runCommand(commandConfig(values)),
});
