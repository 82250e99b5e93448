import type { Config } from '../config/schema.js';
import { ButtonGestures } from '../indicators/button.js';
import { installFailSafe } from '../indicators/fail-safe.js';
import { selectIndicators } from '../indicators/select.js';
import { createLogger } from '../logger.js';
import { Service } from '../service.js';
import { startWatchdog } from '../watchdog.js';

/** The long-running service: returns when SIGINT/SIGTERM has finished the image in flight. */
export async function runCommand(config: Config): Promise<number> {
  const logger = createLogger(config.log.level);
  const { indicators, button, reason } = selectIndicators(config.indicators);
  installFailSafe(indicators, logger);
  logger.info({ backend: indicators.backend, reason }, 'lamps');
  const service = new Service(config, logger, indicators);

  const gestures = button
    ? new ButtonGestures({
        debounceMs: config.indicators.debounceMs,
        longPressMs: config.indicators.longPressMs,
        onShortPress: () => service.acknowledge(),
        onLongPress: () => service.showLastResult(),
      })
    : undefined;
  button?.watch((pressed) => gestures!.input(pressed));

  const stopped = new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now; the image in flight is redone after restart');
        process.exit(130);
      }
      logger.info({ signal }, 'stopping after the image in flight');
      gestures?.close();
      button?.close();
      void service.stop().then(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await service.start();
  const stopWatchdog = startWatchdog(logger);
  await stopped;
  stopWatchdog();
  return 0;
}
