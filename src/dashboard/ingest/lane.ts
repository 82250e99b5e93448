import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../../logger.js';
import type { IncomingMessage } from './messages.js';

export interface LaneOptions {
  url: string;
  /** Identity, persistent session and credentials (connectionOptions). */
  connection: IClientOptions;
  reconnectMs: number;
  filters: readonly string[];
  /**
   * Leaving the group for good: the lane resumes its session only to take what the broker kept
   * for it, and unsubscribes so that nothing new is assigned to it (stop(true) then ends it).
   */
  retiring?: boolean;
  /** Resolves when the message is stored: only then is it acknowledged (PUBACK). */
  deliver(message: IncomingMessage): Promise<void>;
  onConnectionChange(connected: boolean): void;
  logger: Logger;
}

/**
 * One MQTT connection of the dashboard. mqtt.js hands messages to `handleMessage` one at a
 * time and sends the PUBACK for a QoS 1 message only when its callback is called: calling it
 * after the COMMIT means a message is acknowledged only once it is in PostgreSQL. A message
 * not yet stored when the connection or the process goes away stays with the broker, in this
 * client's persistent session, and comes again when it reconnects.
 */
export class IngestLane {
  private client: MqttClient | undefined;
  private connectedNow = false;

  constructor(
    readonly clientId: string,
    private readonly options: LaneOptions,
  ) {}

  get connected(): boolean {
    return this.connectedNow;
  }

  start(): void {
    const { options } = this;
    const client = mqtt.connect(options.url, { ...options.connection, clientId: this.clientId, reconnectPeriod: options.reconnectMs, resubscribe: false });
    client.handleMessage = (packet, callback) => {
      if (packet.cmd !== 'publish') {
        callback();
        return;
      }
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      options.deliver({ topic: packet.topic, payload, retained: packet.retain, receivedAt: new Date() }).then(
        () => callback(),
        (error: Error) => callback(error),
      );
    };
    client.on('connect', (connack) => {
      options.logger.debug({ clientId: this.clientId, sessionPresent: connack.sessionPresent }, 'ingest lane connected');
      if (options.retiring) {
        this.setConnected(true);
        client.unsubscribe([...options.filters], (error) => {
          if (error) options.logger.warn({ clientId: this.clientId, err: error.message }, 'cannot unsubscribe');
        });
        return;
      }
      // Also when the session was present: a broker that lost its state needs them again.
      // rh 1: retained messages only for a subscription the session did not have yet.
      // Connected counts from the SUBACK: Mosquitto 2.0 restores no shared subscription after a
      // restart, so until then this lane takes nothing.
      client.subscribe([...options.filters], { qos: 1, rh: 1 }, (error, granted) => {
        if (error) options.logger.warn({ clientId: this.clientId, err: error.message }, 'cannot subscribe');
        const refused = (granted ?? []).filter((grant) => grant.qos > 2);
        if (refused.length > 0) options.logger.error({ clientId: this.clientId, topics: refused.map((grant) => grant.topic) }, 'the broker refused the subscription (MQTT 5 shared subscriptions, and the ACL for this user?)');
        if (!error && refused.length === 0 && client === this.client) this.setConnected(true);
      });
    });
    client.on('close', () => this.setConnected(false));
    client.on('error', (error) => options.logger.warn({ clientId: this.clientId, err: error.message }, 'ingest lane: MQTT error'));
    this.client = client;
  }

  /**
   * QoS 0: a lost one costs a message sent again, which is skipped by id. Works before the SUBACK
   * too (a resumed session delivers at once). False when not connected.
   */
  publish(topic: string, payload: string): boolean {
    if (!this.client?.connected) return false;
    this.client.publish(topic, payload, { qos: 0 });
    return true;
  }

  /** `endSession`: the broker forgets the session now, with anything still queued in it. */
  async stop(endSession = false): Promise<void> {
    const client = this.client;
    this.client = undefined;
    // Not forced: a PUBACK already being written goes out first. Unacknowledged messages stay in
    // the session unless it is ended.
    await client?.endAsync(false, endSession ? { properties: { sessionExpiryInterval: 0 } } : {}).catch(() => undefined);
    this.setConnected(false);
  }

  private setConnected(connected: boolean): void {
    if (connected === this.connectedNow) return;
    this.connectedNow = connected;
    this.options.onConnectionChange(connected);
  }
}
