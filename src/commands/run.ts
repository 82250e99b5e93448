import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { installFailSafe } from '../indicators/fail-safe.js';
import { selectIndicators } from '../indicators/select.js';
import { createLogger } from '../logger.js';
import { Service } from '../service.js';
import { StartupError } from '../runtime/lifecycle.js';
import { commandConfig, CONFIG_OPTION, defineCommand } from './options.js';

/**
 * The long-running service: returns when SIGINT/SIGTERM has finished the image in flight.
 * A failed start stops what had started and returns at once: 78 when the configuration (or
 * the site secret) is unusable, 1 for anything else, so systemd sees the failure.
 */
export async function runCommand(config: Config): Promise<number> {
  const logger = createLogger(config.log.level);
  const { indicators, button, reason } = selectIndicators(config.indicators);
  installFailSafe(indicators, logger);
  logger.info({ backend: indicators.backend, reason }, 'lamps');
  const service = new Service(config, logger, indicators, { button });

  const stopped = new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now; the image in flight is redone after restart');
        process.exit(130);
      }
      logger.info({ signal }, 'stopping after the image in flight');
      void service.stop().then(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    await service.start();
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    process.stderr.write(`cspine-edge: ${error.message}\n`);
    return error.problem instanceof ConfigError ? 78 : 1;
  }
  await stopped;
  return 0;
}

// Command line (cspine-edge run): options, usage and help; the service itself is runCommand.
export const run = defineCommand({
  synopsis: 'run',
  about: 'Watches the capture folder and classifies what lands there, until SIGINT/SIGTERM (npm start; the systemd unit).',
  options: CONFIG_OPTION,
  run: ({ values }) => runCommand(commandConfig(values)),
});
