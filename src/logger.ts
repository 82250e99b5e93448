import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * The one logger: structured JSON lines (pino) on stdout, so journald and log shippers
 * can parse them. Tests pass their own destination to read what was logged.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'cspine-edge' }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? pino.destination({ sync: true }));
}
