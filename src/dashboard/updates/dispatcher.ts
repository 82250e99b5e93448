import type { Logger } from '../../logger.js';
import type { Capability, CapabilityHealth } from '../../runtime/capability.js';
import { Coalesced } from '../coalesced.js';
import type { ClaimedCommand, CommandQueue } from './command-queue.js';
import type { CommandPublisher } from './command-publisher.js';
import type { Rollouts } from './rollouts.js';

/** Also how soon a process notices work another process (or the CLI) left, and retries. */
const SWEEP_MS = 5_000;
/** Commands claimed per query. */
const CLAIM_BATCH = 200;

export interface DispatcherParts {
  rollouts: Rollouts;
  queue: CommandQueue;
  publisher: CommandPublisher;
  logger: Logger;
  sweepMs?: number;
}

/**
 * Moves rollouts along and sends their commands: on every wake-up (a report stored, an admin's
 * action) and every few seconds, it makes the automatic transitions, then claims the commands
 * that are due and publishes them, each recorded as sent once the broker acknowledges it.
 */
export class RolloutDispatcher implements Capability {
  readonly name = 'updates';
  /** Published, waiting for the PUBACK; their leases are renewed on each sweep. */
  private readonly inFlight = new Map<string, ClaimedCommand>();
  /** Acknowledged by the broker but not yet recorded (the database was away): recorded on the next sweep. */
  private readonly unrecorded = new Map<string, ClaimedCommand>();
  private readonly sweeper = new Coalesced(() => this.sweepLogged());
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;
  private started = false;

  constructor(private readonly parts: DispatcherParts) {}

  async start(): Promise<void> {
    this.parts.publisher.start(() => this.wake());
    this.started = true;
    this.timer = setInterval(() => this.wake(), this.parts.sweepMs ?? SWEEP_MS);
    this.wake();
  }

  /** Something may have changed: sweep soon (once, however many ask). */
  wake(): void {
    if (this.started) this.sweeper.wake();
  }

  async stop(): Promise<void> {
    this.started = false;
    clearInterval(this.timer);
    await this.sweeper.settled();
    // Another process can send these at once rather than after the lease.
    await this.parts.queue.release([...this.inFlight.keys()]).catch(() => undefined);
    this.inFlight.clear();
    await this.parts.publisher.stop();
  }

  /**
   * For the command line: sends what is due, and waits up to `timeoutMs` for the broker to
   * acknowledge it. What is not acknowledged by then (or not sent: the broker did not answer)
   * is left for a running dashboard to send.
   */
  async sendDue(timeoutMs: number): Promise<{ brokerReached: boolean; sent: number; left: number }> {
    const deadline = Date.now() + timeoutMs;
    this.parts.publisher.start();
    try {
      await this.parts.rollouts.settle();
      while (!this.parts.publisher.connected && Date.now() < deadline) await sleep(50);
      if (!this.parts.publisher.connected) return { brokerReached: false, sent: 0, left: 0 };
      const sending: Array<Promise<void>> = [];
      for (let batch = await this.parts.queue.claim(CLAIM_BATCH); batch.length > 0; batch = await this.parts.queue.claim(CLAIM_BATCH)) {
        sending.push(...batch.map((claimed) => this.send(claimed)));
      }
      await untilDeadline(Promise.all(sending), deadline);
      await this.recordUnrecorded();
      const left = this.inFlight.size;
      await this.parts.queue.release([...this.inFlight.keys()]);
      return { brokerReached: true, sent: sending.length - left, left };
    } finally {
      this.inFlight.clear();
      await this.parts.publisher.stop();
    }
  }

  health(): CapabilityHealth {
    if (!this.started) return { status: 'off', detail: 'not started' };
    const detail = `${this.parts.publisher.connected ? 'connected' : 'not connected'} to the broker; ${this.inFlight.size} command(s) waiting for the broker`;
    if (this.lastError !== undefined) return { status: 'degraded', detail: `${detail}; last error: ${this.lastError}` };
    return { status: this.parts.publisher.connected ? 'ok' : 'degraded', detail };
  }

  private async sweepLogged(): Promise<void> {
    try {
      await this.sweep();
      if (this.lastError !== undefined) this.parts.logger.info('model updates: sweeping again');
      this.lastError = undefined;
    } catch (error) {
      const message = (error as Error).message;
      if (this.lastError === undefined) this.parts.logger.warn({ err: message }, 'model updates: cannot sweep the rollouts; retrying');
      this.lastError = message;
    }
  }

  private async sweep(): Promise<void> {
    const { rollouts, queue, publisher } = this.parts;
    await rollouts.settle();
    await this.recordUnrecorded();
    await queue.renew([...this.inFlight.keys(), ...this.unrecorded.keys()]);
    // Claimed while the broker is away, a command would only wait on its lease.
    if (!publisher.connected) return;
    for (let batch = await queue.claim(CLAIM_BATCH); batch.length > 0 && this.started; batch = await queue.claim(CLAIM_BATCH)) {
      for (const claimed of batch) void this.send(claimed);
    }
  }

  private async send(claimed: ClaimedCommand): Promise<void> {
    const id = claimed.command.id;
    this.inFlight.set(id, claimed);
    try {
      await this.parts.publisher.publish(claimed.command);
    } catch (error) {
      // The client was stopped: the lease runs out (or was released) and the command is claimed again.
      this.inFlight.delete(id);
      this.parts.logger.debug({ commandId: id, err: (error as Error).message }, 'model command not published');
      return;
    }
    this.inFlight.delete(id);
    this.unrecorded.set(id, claimed);
    await this.recordUnrecorded();
    this.parts.logger.info({ deviceId: claimed.deviceId, rolloutId: claimed.rolloutId, action: claimed.action, commandId: id }, 'model command sent');
  }

  private async recordUnrecorded(): Promise<void> {
    for (const [id, claimed] of this.unrecorded) {
      try {
        await this.parts.queue.markSent(claimed);
        this.unrecorded.delete(id);
      } catch (error) {
        this.lastError = (error as Error).message;
        return;
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `work` or the deadline, whichever comes first, leaving no timer behind. */
async function untilDeadline(work: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
  clearTimeout(timer);
}
