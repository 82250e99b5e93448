import type { Logger } from '../logger.js';
import type { Indicators } from './indicators.js';

/**
 * Whatever ends the process — a normal exit, an uncaught exception, an unhandled rejection —
 * the lamps go off first, so a dead service never leaves GREEN lit. (SIGKILL cannot be caught:
 * there the character-device backend relies on the kernel releasing the lines, and systemd's
 * restart shows the start-up lamp test and FAULT or IDLE again.)
 */
export function installFailSafe(indicators: Indicators, logger: Logger): void {
  const crash = (kind: string) => (error: unknown) => {
    indicators.failSafe();
    logger.fatal({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, `${kind}: lamps off, exiting`);
    process.exit(70);
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled promise rejection'));
  process.on('exit', () => indicators.failSafe());
}
