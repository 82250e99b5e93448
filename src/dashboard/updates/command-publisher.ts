import mqtt, { type MqttClient } from 'mqtt';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../logger.js';
import { connectionOptions } from '../../sync/connection.js';
import { commandTopic, type ModelCommand } from './model-commands.js';

/**
 * The one MQTT connection a dashboard process publishes model commands on: retained, QoS 1.
 * A publish resolves only when the broker's PUBACK arrives. mqtt.js keeps an unacknowledged
 * QoS 1 message and sends it again after a reconnect, so a publish made while the broker is
 * down waits for it rather than failing.
 */
export class CommandPublisher {
  private client: MqttClient | undefined;

  constructor(
    private readonly settings: Config['dashboard']['mqtt'],
    private readonly clientId: string,
    private readonly logger: Logger,
  ) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** `onConnect` is called at every (re)connect: what waited for the broker can go now. */
  start(onConnect: () => void = () => undefined): void {
    const { settings } = this;
    this.client = mqtt.connect(settings.url, {
      ...connectionOptions(settings, this.clientId, 5),
      // It only publishes: no session to keep at the broker.
      clean: true,
      properties: { sessionExpiryInterval: 0 },
      reconnectPeriod: settings.reconnectMs,
    });
    this.client.on('connect', onConnect);
    this.client.on('error', (error) => this.logger.warn({ clientId: this.clientId, err: error.message }, 'model commands: MQTT error'));
  }

  async publish(command: ModelCommand): Promise<void> {
    if (!this.client) throw new Error('the command publisher is not started');
    await this.client.publishAsync(commandTopic(this.settings.topicPrefix, command.deviceId), JSON.stringify(command), { qos: 1, retain: true });
  }

  /** Messages still waiting for their PUBACK are dropped: their leases run out and another process sends them. */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.endAsync(true).catch(() => undefined);
  }
}
