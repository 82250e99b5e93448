import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { StartupError } from '../runtime/lifecycle.js';

export interface Served {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs a long-lived process until SIGINT/SIGTERM, then stops it cleanly; a second signal exits
 * at once. A failed start stops what had started and returns at once: 78 when the configuration
 * (or a secret it names) is unusable, 1 for anything else, so systemd sees the failure.
 */
export async function serveUntilSignal(served: Served, logger: Logger, messages: { stopping: string; abandoned: string }): Promise<number> {
  const stopped = new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        logger.warn({ signal }, `second signal: exiting now; ${messages.abandoned}`);
        process.exit(130);
      }
      logger.info({ signal }, messages.stopping);
      void served.stop().then(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    await served.start();
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    process.stderr.write(`cspine-edge: ${error.message}\n`);
    return error.problem instanceof ConfigError ? 78 : 1;
  }
  await stopped;
  return 0;
}
