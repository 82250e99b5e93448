import { execFile } from 'node:child_process';
import type { Logger } from './logger.js';
import type { Capability, CapabilityHealth } from './runtime/capability.js';

/**
 * systemd's notification and watchdog (Type=notify, WatchdogSec= in the unit), started last:
 * READY=1 goes out only once every other capability has started, then pings at half the
 * interval from the event loop. A hung loop stops the pings; systemd kills and restarts the
 * service, and ExecStopPost turns the lamps off meanwhile. Does nothing outside systemd. Uses
 * systemd-notify, so the unit needs NotifyAccess=all.
 */
export class SystemdWatchdog implements Capability {
  readonly name = 'systemd watchdog';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async start(): Promise<void> {
    if (!this.env.NOTIFY_SOCKET) return;
    this.notify('READY=1');
    const intervalUs = Number(this.env.WATCHDOG_USEC);
    if (!Number.isFinite(intervalUs) || intervalUs <= 0) return;
    this.timer = setInterval(() => this.notify('WATCHDOG=1'), intervalUs / 2000);
    this.timer.unref();
    this.logger.info({ everyMs: intervalUs / 2000 }, 'systemd watchdog pings started');
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.env.NOTIFY_SOCKET) this.notify('STOPPING=1');
  }

  health(): CapabilityHealth {
    if (!this.env.NOTIFY_SOCKET) return { status: 'off', detail: 'not under systemd' };
    return { status: 'ok', detail: this.timer ? 'ready sent; pinging' : 'ready sent; no WatchdogSec' };
  }

  private notify(state: string): void {
    execFile('systemd-notify', [`--pid=${process.pid}`, state], (error) => {
      if (error) this.logger.warn({ err: error.message, state }, 'systemd-notify failed');
    });
  }
}
