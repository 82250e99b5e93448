import { execFile } from 'node:child_process';
import type { Logger } from './logger.js';

/**
 * systemd's watchdog (WatchdogSec= in the unit): tells systemd the service is ready, then
 * pings it at half the interval from the event loop. A hung loop stops the pings; systemd
 * kills and restarts the service, and ExecStopPost turns the lamps off meanwhile. Does
 * nothing outside systemd. Uses systemd-notify, so the unit needs NotifyAccess=all.
 */
export function startWatchdog(logger: Logger, env: NodeJS.ProcessEnv = process.env): () => void {
  if (!env.NOTIFY_SOCKET) return () => undefined;
  const notify = (state: string) =>
    execFile('systemd-notify', [`--pid=${process.pid}`, state], (error) => {
      if (error) logger.warn({ err: error.message, state }, 'systemd-notify failed');
    });
  notify('READY=1');
  const intervalUs = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(intervalUs) || intervalUs <= 0) return () => undefined;
  const timer = setInterval(() => notify('WATCHDOG=1'), intervalUs / 2000);
  timer.unref();
  logger.info({ everyMs: intervalUs / 2000 }, 'systemd watchdog pings started');
  return () => clearInterval(timer);
}
