import pg from 'pg';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../logger.js';
import type { CapabilityHealth } from '../../runtime/capability.js';
import { Coalesced } from '../coalesced.js';
import { poolConfig } from '../database/database.js';
import { CHANNEL } from '../database/channels.js';
import type { DashboardQueries, DeviceSummary, ResultSummary } from '../database/queries.js';
import type { Rollouts, RolloutSummary } from '../updates/rollouts.js';
import { FeedPosition } from './feed-position.js';

const READ_PAGE = 500;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface LiveSubscriber {
  result(result: ResultSummary): void;
  acknowledged(result: ResultSummary): void;
  devices(fleet: DeviceSummary[]): void;
  rollouts(rollouts: RolloutSummary[]): void;
  /** The feed stops: end the stream. */
  close(): void;
}

/**
 * The live feed of every dashboard process: one dedicated connection LISTENs for ingest's
 * notifications; each burst of them costs one query, whose rows go to every subscriber. After
 * a lost connection it reconnects with back-off and reads what it missed by seq.
 */
export class LiveFeed {
  /** The connection being opened or in use; replaced only after it is lost. */
  private client: pg.Client | undefined;
  private listening = false;
  private stopped = true;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private lastError: string | undefined;
  private readonly subscribers = new Set<LiveSubscriber>();
  /** Tracked only while someone subscribes: a subscriber catches up on its own when it joins. */
  private position: Promise<FeedPosition> | undefined;
  private readonly acknowledgedIds = new Set<string>();
  private readonly resultsReader = new Coalesced(() => this.readResults());
  private readonly devicesReader = new Coalesced(() => this.readDevices());
  private readonly acksReader = new Coalesced(() => this.readAcknowledged());
  private readonly rolloutsReader = new Coalesced(() => this.readRollouts());

  constructor(
    private readonly postgres: Config['dashboard']['postgres'],
    private readonly queries: DashboardQueries,
    private readonly rollouts: Pick<Rollouts, 'list'>,
    private readonly logger: Logger,
  ) {}

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Connects in the background: the page serves without a live feed until the database answers. */
  start(): void {
    this.stopped = false;
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    for (const subscriber of this.subscribers) subscriber.close();
    this.subscribers.clear();
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    await client?.end().catch(() => undefined);
    await Promise.all([this.resultsReader.settled(), this.devicesReader.settled(), this.acksReader.settled(), this.rolloutsReader.settled()]).catch(() => undefined);
  }

  async subscribe(subscriber: LiveSubscriber): Promise<() => void> {
    if (this.subscribers.size === 0 && this.position === undefined) {
      this.position = this.queries.latestSeq().then((seq) => new FeedPosition(seq));
      this.position.catch(() => (this.position = undefined));
    }
    await this.position;
    this.subscribers.add(subscriber);
    return () => {
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) this.position = undefined;
    };
  }

  health(): CapabilityHealth {
    if (this.stopped) return { status: 'off', detail: 'live feed not started' };
    if (!this.listening) return { status: 'degraded', detail: `live feed reconnecting to PostgreSQL${this.lastError ? ` (${this.lastError})` : ''}` };
    return { status: 'ok', detail: `live feed listening, ${this.subscribers.size} subscriber(s)` };
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ ...poolConfig(this.postgres), application_name: 'cspine-dashboard-live' });
    this.client = client;
    client.on('notification', (message) => this.notified(message));
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection closed')));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL.results}; LISTEN ${CHANNEL.devices}; LISTEN ${CHANNEL.acknowledged}; LISTEN ${CHANNEL.rollouts}`);
    } catch (error) {
      this.lost(client, error as Error);
      return;
    }
    if (this.stopped || this.client !== client) return;
    if (this.failures > 0) this.logger.info('live feed listening again; catching up');
    this.listening = true;
    this.failures = 0;
    this.lastError = undefined;
    // Whatever was committed while nobody listened.
    this.resultsReader.wake();
    this.devicesReader.wake();
    this.rolloutsReader.wake();
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    this.listening = false;
    client.end().catch(() => undefined);
    this.failures++;
    this.lastError = error.message;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** (this.failures - 1)) * (0.5 + Math.random() / 2);
    if (this.failures === 1) this.logger.warn({ err: error.message }, 'live feed lost its PostgreSQL connection; reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
  }

  private notified(message: pg.Notification): void {
    if (this.subscribers.size === 0) return;
    if (message.channel === CHANNEL.results) this.resultsReader.wake();
    else if (message.channel === CHANNEL.devices) this.devicesReader.wake();
    else if (message.channel === CHANNEL.rollouts) this.rolloutsReader.wake();
    else if (message.channel === CHANNEL.acknowledged && message.payload && UUID.test(message.payload)) {
      this.acknowledgedIds.add(message.payload);
      this.acksReader.wake();
    }
  }

  private async readResults(): Promise<void> {
    try {
      const position = await this.position;
      if (!position) return;
      for (;;) {
        const rows = await this.queries.resultsAfter(position.lastSeq, position.openGaps(), READ_PAGE);
        for (const row of rows) if (position.advance(row.seq)) this.publish((subscriber) => subscriber.result(row));
        if (rows.length < READ_PAGE) return;
      }
    } catch (error) {
      // The reconnect catches up; a failed read needs nothing more.
      this.logger.warn({ err: (error as Error).message }, 'live feed could not read new results');
    }
  }

  private async readDevices(): Promise<void> {
    try {
      if (this.subscribers.size === 0) return;
      const fleet = await this.queries.fleet();
      this.publish((subscriber) => subscriber.devices(fleet));
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'live feed could not read the fleet');
    }
  }

  private async readRollouts(): Promise<void> {
    try {
      if (this.subscribers.size === 0) return;
      const rollouts = await this.rollouts.list();
      this.publish((subscriber) => subscriber.rollouts(rollouts));
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'live feed could not read the rollouts');
    }
  }

  private async readAcknowledged(): Promise<void> {
    const ids = [...this.acknowledgedIds];
    this.acknowledgedIds.clear();
    try {
      const results = await this.queries.resultsByIds(ids);
      for (const result of results) this.publish((subscriber) => subscriber.acknowledged(result));
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'live feed could not read acknowledged results');
    }
  }

  private publish(deliver: (subscriber: LiveSubscriber) => void): void {
    for (const subscriber of this.subscribers) deliver(subscriber);
  }
}
