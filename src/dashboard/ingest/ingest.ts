import type { Config } from '../../config/schema.js';
import type { Logger } from '../../logger.js';
import type { Capability, CapabilityHealth } from '../../runtime/capability.js';
import { connectionOptions } from '../../sync/connection.js';
import { receiptPayload } from '../../sync/receipts.js';
import { topic } from '../../sync/topics.js';
import type { DashboardDatabase } from '../database/database.js';
import { IngestBatcher } from './batcher.js';
import { IngestLane } from './lane.js';
import { PayloadSchemas } from './payload-schemas.js';

export type DashboardSettings = Config['dashboard'];

/** The schema's largest `dashboard.mqtt.lanes`: retiring an instance ends every session it may have had. */
const MAX_LANES = 64;

export interface IngestCounters {
  messages: number;
  /** When the last batch was written (ms since the epoch), 0 before the first. */
  lastWrittenAt: number;
  duplicates: number;
  deadLetters: number;
}

/** The topic filters of one lane: shared kinds through the group, and (lane 0 only) every status. */
export function laneFilters(settings: DashboardSettings['mqtt'], lane: number): string[] {
  const shared = ['result', 'event', 'health', 'update'].map((kind) => `$share/${settings.shareGroup}/${settings.topicPrefix}/+/${kind}`);
  // Statuses are retained, and a broker sends no retained message to a shared subscription: each
  // dashboard process takes them all on one lane. Writing a status twice changes nothing.
  return lane === 0 ? [...shared, `${settings.topicPrefix}/+/status`] : shared;
}

/**
 * MQTT → PostgreSQL. Several connections ("lanes") share one MQTT 5 shared subscription with
 * every other dashboard process of the group, so each message reaches one process; their
 * messages are written in batches, and each is acknowledged only after its batch commits.
 */
export class Ingest implements Capability {
  readonly name = 'ingest';
  readonly counters: IngestCounters = { messages: 0, lastWrittenAt: 0, duplicates: 0, deadLetters: 0 };
  private lanes: IngestLane[] = [];
  private batcher: IngestBatcher | undefined;
  private writeError: string | undefined;

  constructor(
    private readonly settings: DashboardSettings,
    private readonly database: DashboardDatabase,
    private readonly logger: Logger,
    private readonly mode: {
      /** `dashboard retire`: store what the broker kept for this instance, then leave the group. */
      retiring?: boolean;
      /** After a batch that stored update reports: the rollouts may move on. */
      onUpdateReports?: () => void;
    } = {},
  ) {}

  async start(): Promise<void> {
    const { mqtt, ingest, instanceId } = this.settings;
    const batcher = new IngestBatcher({
      pool: () => this.database.pool,
      topicPrefix: mqtt.topicPrefix,
      schemas: new PayloadSchemas(),
      lanes: mqtt.lanes,
      maxRows: ingest.batchMaxRows,
      maxDelayMs: ingest.batchMaxDelayMs,
      onWritten: (written, messages, receipts) => {
        this.sendReceipts(receipts);
        if (this.writeError !== undefined) this.logger.info('PostgreSQL is back: ingest resumes');
        this.writeError = undefined;
        this.database.noteSuccess();
        const counters = this.counters;
        counters.messages += messages;
        counters.lastWrittenAt = Date.now();
        counters.duplicates += written.duplicates;
        counters.deadLetters += written.deadLetters;
        if (written.deadLetters > 0) this.logger.warn({ count: written.deadLetters }, 'messages that could not be stored went to the dead_letters table, with the reason');
        if (written.inserted.update > 0) this.mode.onUpdateReports?.();
      },
      onWriteFailed: (error) => {
        const message = error instanceof Error ? error.message : String(error);
        if (this.writeError === undefined) this.logger.warn({ err: message }, 'cannot write to PostgreSQL: messages stay unacknowledged at the broker; retrying');
        this.writeError = message;
        this.database.noteFailure(error);
      },
    });
    this.batcher = batcher;
    // Connection details are read once here (password file, certificates): a mistake fails the start.
    const connection = connectionOptions(mqtt, `cspine-dashboard-${instanceId}`, 5);
    const retiring = this.mode.retiring === true;
    this.lanes = Array.from({ length: retiring ? MAX_LANES : mqtt.lanes }, (_unused, lane) => {
      const clientId = `cspine-dashboard-${instanceId}-${lane}`;
      return new IngestLane(clientId, {
        url: mqtt.url,
        connection,
        reconnectMs: mqtt.reconnectMs,
        filters: laneFilters(mqtt, lane),
        retiring,
        deliver: (message) => batcher.add(message),
        onConnectionChange: (connected) => {
          if (lane === 0) this.logger.info({ url: mqtt.url, connected }, connected ? 'connected to the broker' : 'disconnected from the broker; reconnecting');
        },
        logger: this.logger,
      });
    });
    for (const lane of this.lanes) lane.start();
  }

  async stop(): Promise<void> {
    await this.shutdown(false);
  }

  /**
   * `dashboard retire`, once everything the sessions held is stored: stops, and has the broker
   * forget this instance's sessions. Only then, never on a failed retirement: a session ended
   * with messages still queued in it would lose them.
   */
  async endSessions(): Promise<void> {
    await this.shutdown(true);
  }

  private async shutdown(endSessions: boolean): Promise<void> {
    // First the writes in flight finish and are acknowledged; then the connections close with
    // whatever is still unwritten unacknowledged, kept by the broker for the next start.
    await this.batcher?.stop();
    await Promise.all(this.lanes.map((lane) => lane.stop(endSessions)));
    this.lanes = [];
    this.batcher = undefined;
  }

  /**
   * Tells each device which of its messages are stored: a broker's PUBACK to the device does not
   * mean the dashboard got them (docs/mqtt.md#receipts). Without a connected lane, none is sent;
   * the device sends those messages again later and they are skipped by id.
   */
  private sendReceipts(receipts: Map<string, string[]>): void {
    for (const [deviceId, ids] of receipts) {
      const to = topic(this.settings.mqtt.topicPrefix, deviceId, 'receipt');
      const message = JSON.stringify(receiptPayload(deviceId, ids));
      this.lanes.some((lane) => lane.publish(to, message));
    }
  }

  /** Lanes connected to the broker now, and in all. */
  get connections(): { connected: number; lanes: number } {
    return { connected: this.lanes.filter((lane) => lane.connected).length, lanes: this.lanes.length };
  }

  health(): CapabilityHealth {
    if (!this.batcher) return { status: 'off', detail: 'not started' };
    const { connected } = this.connections;
    const { messages, deadLetters } = this.counters;
    const detail = `${connected}/${this.lanes.length} connections to ${this.settings.mqtt.url}; ${messages} messages, ${deadLetters} dead letters`;
    if (this.writeError !== undefined) return { status: 'degraded', detail: `${detail}; cannot write: ${this.writeError}` };
    if (connected === 0) return { status: 'degraded', detail };
    return { status: 'ok', detail };
  }
}
