import { Hono } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { Logger } from '../../logger.js';
import type { DashboardQueries, DeviceSummary, ResultSummary } from '../database/queries.js';
import type { Rollouts, RolloutSummary } from '../updates/rollouts.js';
import type { WebEnv } from './auth.js';
import type { LiveFeed, LiveSubscriber } from './live-feed.js';
import { livePosition } from './query-params.js';

/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEP_ALIVE_MS = 20_000;
/**
 * Messages a client may have unwritten before it is cut off: a stalled client must not hold the
 * whole feed in memory. EventSource reconnects with Last-Event-ID and catches up.
 */
const MAX_UNWRITTEN = 2000;
const CATCH_UP_PAGE = 500;

class StreamSubscriber implements LiveSubscriber {
  private unwritten = 0;
  private wakeUp: (() => void) | undefined;
  private ended = false;

  constructor(private readonly stream: SSEStreamingApi) {
    stream.onAbort(() => this.close());
  }

  get open(): boolean {
    return !this.ended;
  }

  result(result: ResultSummary): void {
    this.send({ event: 'result', id: String(result.seq), data: JSON.stringify(result) });
  }

  acknowledged(result: ResultSummary): void {
    this.send({ event: 'acknowledged', data: JSON.stringify(result) });
  }

  devices(fleet: DeviceSummary[]): void {
    this.send({ event: 'devices', data: JSON.stringify({ devices: fleet }) });
  }

  rollouts(rollouts: RolloutSummary[]): void {
    this.send({ event: 'rollouts', data: JSON.stringify({ rollouts }) });
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.wakeUp?.();
    void this.stream.close().catch(() => undefined);
  }

  /** Resolves after `ms`, or at once when the stream ends. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  keepAlive(): void {
    if (!this.ended) void this.stream.write(': keep-alive\n\n').catch(() => this.close());
  }

  private send(message: { event: string; id?: string; data: string }): void {
    if (this.ended) return;
    if (this.unwritten >= MAX_UNWRITTEN) {
      this.close();
      return;
    }
    this.unwritten++;
    this.stream
      .writeSSE(message)
      .catch(() => this.close())
      .finally(() => this.unwritten--);
  }
}

/**
 * GET /api/live: Server-Sent Events. `result` (a new result, id = its seq), `acknowledged` (a
 * RED result acknowledged anywhere), `devices` (the fleet table) and `rollouts` (the newest
 * rollouts), these two at connect and on every change. With `?after=SEQ` or Last-Event-ID,
 * results after that seq come first.
 */
export function liveRoute(feed: LiveFeed, queries: DashboardQueries, rollouts: Pick<Rollouts, 'list'>, logger: Logger): Hono<WebEnv> {
  const routes = new Hono<WebEnv>();
  routes.get('/live', (c) => {
    const after = livePosition(c.req.header('last-event-id') ?? c.req.query('after'));
    c.header('X-Accel-Buffering', 'no'); // nginx: pass events through as they come
    return streamSSE(
      c,
      async (stream) => {
        const subscriber = new StreamSubscriber(stream);
        // Subscribe before catching up, so nothing falls between; the page ignores a result it has.
        const unsubscribe = await feed.subscribe(subscriber);
        try {
          subscriber.devices(await queries.fleet());
          subscriber.rollouts(await rollouts.list());
          for (let seq = after; seq !== undefined && subscriber.open; ) {
            const rows = await queries.resultsAfter(seq, [], CATCH_UP_PAGE);
            for (const row of rows) subscriber.result(row);
            seq = rows.length < CATCH_UP_PAGE ? undefined : rows[rows.length - 1]?.seq;
          }
          while (subscriber.open) {
            await subscriber.wait(KEEP_ALIVE_MS);
            subscriber.keepAlive();
          }
        } finally {
          unsubscribe();
          subscriber.close();
        }
      },
      async (error) => {
        logger.warn({ err: error.message }, 'live stream ended with an error');
      },
    );
  });
  return routes;
}
