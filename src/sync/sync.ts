import type { Config } from '../config/schema.js';
import { CspineError, ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Pseudonyms } from '../privacy/pseudonymizer.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';
import { conditionOf, sameCondition } from '../runtime/device-state.js';
import type { DeviceState } from '../runtime/events.js';
import type { EventBus } from '../runtime/event-bus.js';
import type { OutboxBacklog } from '../store/outbox.js';
import type { HistoryStore } from '../store/store.js';
import { parseModelCommand } from '../updates/command.js';
import { eventPayload, updatePayload, type DeviceCondition, type EventPayload } from './payloads.js';
import { MqttPublisher } from './publisher.js';
import { topic } from './topics.js';

/** A warning, not an error: listed with the errors in docs/errors.md. */
const OUTBOX_BACKLOG = 'W_OUTBOX_BACKLOG';

export type Backlog = OutboxBacklog & { warnAt: number; overLimit: boolean };

/**
 * Everything MQTT for the device, as one capability: the publisher, results, faults and model
 * update reports from the event bus into the outbox, the device's condition into the retained
 * status, model commands from the broker onto the bus (with updates.enabled), and the warning
 * when the backlog passes `sync.outboxWarnAt` (said once per crossing; nothing is dropped).
 * Started after the history database, whose outbox it drains.
 */
export class Sync implements Capability {
  readonly name = 'mqtt sync';
  /** Exists while started. */
  private publisher: MqttPublisher | undefined;
  private overLimit = false;
  private condition: DeviceCondition | undefined;

  constructor(
    private readonly config: Config,
    private readonly store: HistoryStore,
    private readonly pseudonymizer: Pseudonyms,
    private readonly bus: EventBus,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const { outbox, history } = this.store;
    if (!outbox) throw new CspineError(ErrorCode.INTERNAL, 'the history database was opened without an outbox');
    const { config } = this;
    const commands = config.updates.enabled ? [topic(config.sync.mqtt.topicPrefix, config.deviceId, 'command/model')] : [];
    const context = { deviceId: config.deviceId, pseudonymizer: this.pseudonymizer, sendIdentifiers: config.sync.sendIdentifiers };
    this.publisher = new MqttPublisher(config, outbox, history, context, this.logger, commands);
    if (this.condition) this.publisher.setCondition(this.condition);
    this.publisher.on('message', (_topic, payload) => this.bus.emit('modelCommand', parseModelCommand(payload)));
    this.bus.on('updateProgress', this, (step) => this.queue(() => outbox.addUpdate(updatePayload(config.deviceId, step)), step.state));
    this.bus.on('resultCommitted', this, () => this.resultQueued());
    // History and the outbox live in the same database: a store fault cannot be queued there.
    this.bus.on('faultRaised', this, (fault) => {
      if (!fault.code.startsWith('E_STORE_')) this.event('error', fault.code, fault.message);
    });
    this.bus.on('receiverStateChanged', this, (state) => {
      if (state.state === 'failed') this.event('error', state.code, `DICOM receiver: ${state.reason}`);
    });
    this.bus.on('deviceStateChanged', this, (state) => this.deviceStateChanged(state));
    this.publisher.start();
  }

  async stop(): Promise<void> {
    this.bus.off(this);
    await this.publisher?.stop();
    this.publisher = undefined;
  }

  health(): CapabilityHealth {
    if (!this.publisher) return { status: 'off', detail: 'not started' };
    const backlog = this.backlog();
    const connection = this.publisher.isConnected ? `connected to ${this.config.sync.mqtt.url}` : `not connected to ${this.config.sync.mqtt.url}; results wait in the outbox`;
    const unconfirmed = this.config.sync.receipts.enabled ? `, ${this.store.outbox?.awaitingReceipt() ?? 0} awaiting the dashboard's receipt` : '';
    return { status: this.publisher.isConnected && !backlog.overLimit ? 'ok' : 'degraded', detail: `${connection}; ${backlog.pending} undelivered${unconfirmed}` };
  }

  /** Heartbeats are QoS 0 and never queued: a stale one replayed later would mislead. */
  publishHealth(payload: object): void {
    this.publisher?.publishNow('health', payload);
  }

  pruneEvents(olderThan: Date): number {
    return this.store.outbox?.pruneDeliveredEvents(olderThan) ?? 0;
  }

  backlog(): Backlog {
    const backlog = this.store.outbox?.backlog() ?? { pending: 0, oldestPendingAt: null };
    return { ...backlog, warnAt: this.config.sync.outboxWarnAt, overLimit: backlog.pending > this.config.sync.outboxWarnAt };
  }

  private resultQueued(): void {
    this.checkBacklog();
    this.publisher?.poke();
  }

  /** Faults and warnings travel through the outbox too, so those made offline arrive later. */
  private event(severity: EventPayload['severity'], code: string, message: string): void {
    this.queue(() => this.store.outbox?.addEvent(eventPayload(this.config.deviceId, severity, code, message)), code);
  }

  private queue(add: () => unknown, what: string): void {
    try {
      add();
      this.publisher?.poke();
    } catch (error) {
      this.logger.error({ err: (error as Error).message, what }, 'could not queue a message in the outbox');
    }
  }

  /** Only changes of condition reach the broker, not every image; `offline` follows `stopping`. */
  private deviceStateChanged(state: DeviceState): void {
    const next = conditionOf(state);
    if (next.state === 'stopping' || (this.condition && sameCondition(this.condition, next))) return;
    this.condition = { ...next, since: new Date().toISOString() };
    this.publisher?.setCondition(this.condition);
  }

  private checkBacklog(): void {
    const backlog = this.backlog();
    if (backlog.overLimit === this.overLimit) return;
    this.overLimit = backlog.overLimit;
    if (backlog.overLimit) {
      const message = `outbox holds ${backlog.pending} undelivered messages (over sync.outboxWarnAt ${backlog.warnAt}, oldest ${backlog.oldestPendingAt}); all are kept and will be sent when the broker is reachable`;
      this.logger.warn({ code: OUTBOX_BACKLOG, pending: backlog.pending }, message);
      this.event('warning', OUTBOX_BACKLOG, message);
    } else {
      this.logger.info({ pending: backlog.pending }, 'outbox backlog back under its limit');
    }
  }
}
