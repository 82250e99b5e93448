import type { Config } from '../config/schema.js';
import { SimulatedIndicators } from '../indicators/simulated.js';
import { createLogger } from '../logger.js';
import { Service } from '../service.js';

/** The long-running service: returns when SIGINT/SIGTERM has finished the image in flight. */
export async function runCommand(config: Config): Promise<number> {
  const logger = createLogger(config.log.level);
  const indicators = new SimulatedIndicators(config.indicators.render ? process.stderr : undefined);
  const service = new Service(config, logger, indicators);

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
  await service.start();
  await stopped;
  return 0;
}
