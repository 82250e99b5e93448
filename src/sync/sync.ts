import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { History } from '../store/history.js';
import type { Outbox } from '../store/outbox.js';
import { eventPayload, type EventPayload } from './payloads.js';
import { loadSiteSecret, Pseudonymizer } from './privacy.js';
import { MqttPublisher } from './publisher.js';

/**
 * Everything MQTT for the service: the publisher, events into the outbox, and the warning
 * when the backlog passes `sync.outboxWarnAt` (said once per crossing; nothing is dropped).
 */
export class Sync {
  readonly publisher: MqttPublisher;
  private overLimit = false;

  constructor(
    private readonly config: Config,
    private readonly outbox: Outbox,
    history: History,
    private readonly logger: Logger,
  ) {
    const pseudonymizer = new Pseudonymizer(loadSiteSecret(config.sync.siteSecretFile));
    this.publisher = new MqttPublisher(config, outbox, history, { deviceId: config.deviceId, pseudonymizer, sendIdentifiers: config.sync.sendIdentifiers }, logger);
  }

  start(): void {
    this.publisher.start();
  }

  async stop(): Promise<void> {
    await this.publisher.stop();
  }

  /** A result was committed (its outbox row with it). */
  resultQueued(): void {
    this.checkBacklog();
    this.publisher.poke();
  }

  /** Faults and warnings travel through the outbox too, so those made offline arrive later. */
  event(severity: EventPayload['severity'], code: string, message: string): void {
    try {
      this.outbox.addEvent(eventPayload(this.config.deviceId, severity, code, message));
      this.publisher.poke();
    } catch (error) {
      this.logger.error({ err: (error as Error).message, code }, 'could not queue event');
    }
  }

  pruneEvents(olderThan: Date): number {
    return this.outbox.pruneDeliveredEvents(olderThan);
  }

  backlog(): { pending: number; oldestPendingAt: string | null; warnAt: number; overLimit: boolean } {
    const backlog = this.outbox.backlog();
    return { ...backlog, warnAt: this.config.sync.outboxWarnAt, overLimit: backlog.pending > this.config.sync.outboxWarnAt };
  }

  private checkBacklog(): void {
    const backlog = this.backlog();
    if (backlog.overLimit === this.overLimit) return;
    this.overLimit = backlog.overLimit;
    if (backlog.overLimit) {
      const message = `outbox holds ${backlog.pending} undelivered messages (over sync.outboxWarnAt ${backlog.warnAt}, oldest ${backlog.oldestPendingAt}); all are kept and will be sent when the broker is reachable`;
      this.logger.warn({ code: 'W_OUTBOX_BACKLOG', pending: backlog.pending }, message);
      this.event('warning', 'W_OUTBOX_BACKLOG', message);
    } else {
      this.logger.info({ pending: backlog.pending }, 'outbox backlog back under its limit');
    }
  }
}
