import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { backoffDelay } from '../backoff.js';
import { deviceConnectionOptions } from './connection.js';
import type { Config } from '../config/schema.js';
import { ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { History } from '../store/history.js';
import type { Outbox, OutboxRow } from '../store/outbox.js';
import { ReceiptWatch } from './receipts.js';
import { resultPayload, statusPayload, type DeviceCondition, type PayloadContext } from './payloads.js';
import { topic } from './topics.js';

type MqttSettings = Config['sync']['mqtt'];

export interface PublisherEvents {
  connected: [];
  disconnected: [];
  /** Outbox ids whose PUBACK was recorded. */
  delivered: [number[]];
  /** The broker refused the credentials (wrong user/password, or not authorised). */
  refused: [string];
  /** A message on one of the subscribed topics. */
  message: [topic: string, payload: Buffer];
}

/** CONNACK return codes (3.1.1) and reason codes (5) that mean "your credentials are wrong". */
const REFUSED_CODES = new Set([4, 5, 0x86, 0x87, 0x8c]);
const ACK_FLUSH_MS = 50;
/** How long a clean stop waits for the broker to take `offline` and the DISCONNECT. */
const STOP_GRACE_MS = 2000;

/**
 * Drains the SQLite outbox to MQTT with QoS 1, in order, at most `inflightWindow` unacknowledged
 * at a time, and marks rows delivered only on PUBACK. Every connection is a fresh mqtt.js
 * client with its own back-off: mqtt.js keeps unacknowledged messages in memory, which a power
 * cut loses, so the outbox is the only store we trust and the only thing that resends. With
 * receipts (ReceiptWatch) it also resends what the broker took but lost before the dashboard.
 */
export class MqttPublisher extends EventEmitter<PublisherEvents> {
  private client: MqttClient | undefined;
  private connected = false;
  private stopped = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<number>();
  /** Highest outbox id handed to the current connection. */
  private cursor = 0;
  private acked: number[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly settings: MqttSettings;
  private condition: DeviceCondition | undefined;
  /** With sync.receipts.enabled. */
  private readonly receipts: ReceiptWatch | undefined;
  private readonly subscriptions: readonly string[];

  constructor(
    private readonly config: Config,
    private readonly outbox: Outbox,
    private readonly history: History,
    private readonly payloads: PayloadContext,
    private readonly logger: Logger,
    /** Topics subscribed to (QoS 1) on every connection: each is a fresh client, and retained messages come again. */
    subscriptions: readonly string[] = [],
  ) {
    super();
    this.settings = config.sync.mqtt;
    const { receipts } = config.sync;
    this.receipts = receipts.enabled ? new ReceiptWatch(outbox, receipts, payloads.deviceId, logger, () => this.resendFromOldest()) : undefined;
    this.subscriptions = this.receipts ? [...subscriptions, this.topicOf('receipt')] : subscriptions;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  start(): void {
    this.receipts?.start();
    this.connect();
  }

  /** New rows are in the outbox. */
  poke(): void {
    this.drain();
  }

  /** Fire-and-forget (QoS 0): a stale heartbeat replayed hours later would mislead. */
  publishNow(name: 'health', payload: object): boolean {
    if (!this.connected || !this.client) return false;
    const { id } = payload as { id?: unknown };
    if (typeof id === 'string') this.receipts?.heartbeatSent(id);
    this.client.publish(topic(this.settings.topicPrefix, this.payloads.deviceId, name), JSON.stringify(payload), { qos: 0 });
    return true;
  }

  /** The device's condition changed: the retained status says so (now, or at the next connect). */
  setCondition(condition: DeviceCondition): void {
    this.condition = condition;
    if (this.connected) this.publishOnline();
  }

  /**
   * Says offline (retained) when connected, records the acknowledgements received, and closes
   * with a DISCONNECT, so the broker drops the last will: subscribers see one `offline`, ours,
   * stamped now. Only a broker that does not answer within STOP_GRACE_MS gets a dropped socket.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.receipts?.stop();
    const client = this.client;
    const wasConnected = this.connected;
    if (client && wasConnected) {
      await withinGrace(
        new Promise<void>((resolve) => {
          client.publish(this.topicOf('status'), JSON.stringify(statusPayload(this.payloads.deviceId, 'offline')), { qos: 1, retain: true }, () => resolve());
        }),
      );
    }
    this.flushAcks();
    this.connected = false;
    this.client = undefined;
    if (!client) return;
    const clean = wasConnected && (await withinGrace(client.endAsync(false).then(() => true, () => false)));
    if (!clean) await client.endAsync(true).catch(() => undefined);
  }

  private publishOnline(): void {
    this.client?.publish(this.topicOf('status'), JSON.stringify(statusPayload(this.payloads.deviceId, 'online', this.condition)), { qos: 1, retain: true });
  }

  private topicOf(name: 'status' | 'result' | 'event' | 'update' | 'receipt'): string {
    return topic(this.settings.topicPrefix, this.payloads.deviceId, name);
  }

  private connect(): void {
    if (this.stopped) return;
    const { settings } = this;
    let base: IClientOptions;
    try {
      base = deviceConnectionOptions(this.config);
    } catch (error) {
      this.logger.error({ code: ErrorCode.SYNC_SETTINGS }, `cannot prepare the MQTT connection: ${(error as Error).message}`);
      this.scheduleReconnect();
      return;
    }
    const options: IClientOptions = {
      ...base,
      will: {
        topic: this.topicOf('status'),
        payload: Buffer.from(JSON.stringify(statusPayload(this.payloads.deviceId, 'offline'))),
        qos: 1,
        retain: true,
      },
    };
    const client = mqtt.connect(settings.url, options);
    this.client = client;
    let refused = false;

    client.on('connect', () => {
      if (client !== this.client) return;
      this.attempt = 0;
      this.connected = true;
      this.inflight.clear();
      this.cursor = 0;
      this.flushAcks();
      this.logger.info({ broker: settings.url, clientId: options.clientId }, 'MQTT connected');
      // Re-published on every connect: brokers without persistence forget retained messages.
      this.publishOnline();
      this.subscribe(client);
      this.emit('connected');
      this.drain();
    });
    client.on('message', (topic, payload) => {
      if (client !== this.client) return;
      if (this.receipts && topic === this.topicOf('receipt')) this.receipts.received(payload);
      else this.emit('message', topic, payload);
    });
    client.on('error', (error: Error & { code?: number | string }) => {
      if (client !== this.client) return;
      if (typeof error.code === 'number' && REFUSED_CODES.has(error.code)) {
        if (refused) return; // mqtt.js may report one refusal more than once
        refused = true;
        // Credentials do not fix themselves: the back-off stays at its longest from here on.
        this.attempt = Number.POSITIVE_INFINITY;
        const reason = `broker ${settings.url} refused the connection (code ${error.code}: ${error.message}); check sync.mqtt.username / password / passwordFile`;
        this.logger.error({ code: ErrorCode.SYNC_REFUSED }, reason);
        this.emit('refused', reason);
      } else {
        this.logger.warn({ broker: settings.url, err: error.message }, 'MQTT connection error');
      }
    });
    client.on('close', () => {
      if (client !== this.client) return;
      const wasConnected = this.connected;
      this.connected = false;
      this.client = undefined;
      client.removeAllListeners('connect');
      client.end(true);
      if (wasConnected) {
        this.logger.warn({ broker: settings.url, unacknowledged: this.inflight.size }, 'MQTT disconnected; undelivered results stay in the outbox');
        this.emit('disconnected');
      }
      this.scheduleReconnect(refused);
    });
  }

  /**
   * With back-off (src/backoff.ts) between reconnectMinMs and reconnectMaxMs. After a refusal,
   * never sooner than reconnectMaxMs: the jitter then lengthens the wait (up to 1.5×) instead of
   * halving it, and still keeps a fleet refused at once from asking again all at once.
   */
  private scheduleReconnect(afterRefusal = false): void {
    if (this.stopped) return;
    const longest = this.settings.reconnectMaxMs;
    const delay = afterRefusal ? Math.round(longest * (1 + Math.random() * 0.5)) : backoffDelay(this.attempt, this.settings.reconnectMinMs, longest);
    this.attempt = Math.min(this.attempt + 1, 30);
    this.logger.debug({ delayMs: delay, attempt: this.attempt }, 'MQTT reconnect scheduled');
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private subscribe(client: MqttClient): void {
    if (this.subscriptions.length === 0) return;
    client.subscribe([...this.subscriptions], { qos: 1 }, (error) => {
      // The next connection subscribes again.
      if (error) this.logger.warn({ topics: this.subscriptions, err: error.message }, 'MQTT subscribe failed');
    });
  }

  private drain(): void {
    const client = this.client;
    if (!client || !this.connected) return;
    const room = this.settings.inflightWindow - this.inflight.size;
    if (room <= 0) return;
    let rows: OutboxRow[];
    try {
      rows = this.outbox.pending(room, this.cursor);
    } catch (error) {
      this.logger.error({ err: (error as Error).message }, 'cannot read the outbox; retrying on the next result or reconnect');
      return;
    }
    for (const row of rows) {
      this.cursor = row.id;
      if (this.inflight.has(row.id)) continue; // after resendFromOldest
      const message = this.render(row);
      if (message === undefined) {
        this.acked.push(row.id);
        continue;
      }
      this.inflight.add(row.id);
      client.publish(message.topic, message.payload, { qos: 1 }, (error) => {
        if (client !== this.client) return; // that connection is gone; the row is resent on the next
        this.inflight.delete(row.id);
        if (error) {
          this.logger.warn({ outboxId: row.id, err: error.message }, 'publish failed; will resend');
          return;
        }
        this.acked.push(row.id);
        this.flushTimer ??= setTimeout(() => this.flushAcks(), ACK_FLUSH_MS);
        this.drain();
      });
    }
    if (this.acked.length > 0) this.flushTimer ??= setTimeout(() => this.flushAcks(), ACK_FLUSH_MS);
  }

  /** Rows behind the cursor are undelivered again (lost after the broker took them). */
  private resendFromOldest(): void {
    this.cursor = 0;
    this.drain();
  }

  private render(row: OutboxRow): { topic: string; payload: string } | undefined {
    if (row.kind !== 'result') return { topic: this.topicOf(row.kind), payload: row.payload! };
    const entry = this.history.entryById(row.imageId!);
    if (!entry) {
      this.logger.error({ outboxId: row.id, imageId: row.imageId }, 'outbox row points at a missing history record; skipping it');
      return undefined;
    }
    return { topic: this.topicOf('result'), payload: JSON.stringify(resultPayload(entry, row.messageId, this.payloads)) };
  }

  private flushAcks(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.acked.length === 0) return;
    const ids = this.acked;
    this.acked = [];
    try {
      this.outbox.markDelivered(ids);
      this.emit('delivered', ids);
    } catch (error) {
      // Not recorded: these are sent again later, which receivers de-duplicate by id.
      this.logger.error({ err: (error as Error).message, count: ids.length }, 'could not record deliveries');
    }
  }
}

/** True when `work` settled within the grace period (with its own value when it is a boolean). */
async function withinGrace(work: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), STOP_GRACE_MS)));
  try {
    const value = await Promise.race([work.then((result) => (typeof result === 'boolean' ? result : true)), late]);
    return value;
  } finally {
    clearTimeout(timer);
  }
}
