import type pg from 'pg';
import { writeBatch, type WrittenBatch } from './ingest-writer.js';
import { receiptsFor, sortMessage, type AcceptedMessage, type DeadLetter, type IncomingMessage } from './messages.js';
import type { PayloadSchemas } from './payload-schemas.js';

export interface BatcherOptions {
  pool: () => pg.Pool;
  topicPrefix: string;
  schemas: PayloadSchemas;
  /** Messages that can be waiting at once (one per MQTT lane): when all are here, write at once. */
  lanes: number;
  maxRows: number;
  maxDelayMs: number;
  /** `receipts`: per device, the ids of its messages now stored (or dead-lettered). */
  onWritten(batch: WrittenBatch, messages: number, receipts: Map<string, string[]>): void;
  onWriteFailed(error: unknown): void;
}

interface Waiting {
  message: IncomingMessage;
  resolve(): void;
  reject(error: Error): void;
}

/** Thrown to the lanes when the dashboard stops with messages unwritten: they are not acknowledged, so the broker keeps them. */
export class IngestStopped extends Error {
  constructor() {
    super('ingest stopped before the message was stored; the broker delivers it again');
  }
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

/**
 * Gathers messages from the MQTT lanes into batches, writes each batch in one transaction and
 * resolves each message's promise after COMMIT (the lane then sends PUBACK). While PostgreSQL
 * is down the batch is retried with back-off and nothing is acknowledged, so the broker holds
 * everything that arrives meanwhile.
 */
export class IngestBatcher {
  private pending: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private stopped = false;
  private wakeRetry: (() => void) | undefined;

  constructor(private readonly options: BatcherOptions) {}

  /** Resolves once the message is committed (or dead-lettered); rejects with IngestStopped. */
  add(message: IncomingMessage): Promise<void> {
    if (this.stopped) return Promise.reject(new IngestStopped());
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ message, resolve, reject });
      this.schedule();
    });
  }

  /** Gives up on unwritten messages (they stay unacknowledged at the broker) and waits for a write in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wakeRetry?.();
    await this.writing;
    for (const waiting of this.pending.splice(0)) waiting.reject(new IngestStopped());
  }

  private schedule(): void {
    if (this.writing) return;
    if (this.pending.length >= Math.min(this.options.lanes, this.options.maxRows)) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.flush();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.writing && this.pending.length > 0) this.flush();
      }, this.options.maxDelayMs);
    }
  }

  private flush(): void {
    this.writing = this.writeNext().finally(() => {
      this.writing = undefined;
      if (this.pending.length > 0 && !this.stopped) this.schedule();
    });
  }

  private async writeNext(): Promise<void> {
    const batch = this.pending.splice(0, this.options.maxRows);
    const accepted: AcceptedMessage[] = [];
    const dead: DeadLetter[] = [];
    for (const { message } of batch) {
      const sorted = sortMessage(message, this.options.topicPrefix, this.options.schemas);
      if ('accepted' in sorted) accepted.push(sorted.accepted);
      else dead.push(sorted.dead);
    }
    let delayMs = RETRY_MIN_MS;
    for (;;) {
      try {
        const written = await this.write(accepted, dead);
        this.options.onWritten(written, batch.length, receiptsFor(accepted, dead));
        for (const waiting of batch) waiting.resolve();
        return;
      } catch (error) {
        this.options.onWriteFailed(error);
        if (this.stopped) {
          for (const waiting of batch) waiting.reject(new IngestStopped());
          return;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          this.wakeRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeRetry = undefined;
        delayMs = Math.min(RETRY_MAX_MS, delayMs * 2);
      }
    }
  }

  /**
   * One transaction for the batch. A row the database refuses (a value the schema allows but
   * PostgreSQL cannot store) would fail every retry: then each message is written alone, and
   * the ones refused become dead letters with PostgreSQL's reason.
   */
  private async write(accepted: AcceptedMessage[], dead: DeadLetter[]): Promise<WrittenBatch> {
    const pool = this.options.pool();
    try {
      return await writeBatch(pool, accepted, dead);
    } catch (error) {
      if (!isDataError(error)) throw error;
    }
    const total: WrittenBatch = { inserted: { result: 0, event: 0, health: 0, update: 0 }, duplicates: 0, deadLetters: 0 };
    for (const [index, message] of accepted.entries()) {
      const letters = index === 0 ? dead : [];
      let written: WrittenBatch;
      try {
        written = await writeBatch(pool, [message], letters);
      } catch (error) {
        if (!isDataError(error)) throw error;
        written = await writeBatch(pool, [], [...letters, refused(message, error)]);
      }
      for (const kind of Object.keys(total.inserted) as Array<keyof WrittenBatch['inserted']>) total.inserted[kind] += written.inserted[kind];
      total.duplicates += written.duplicates;
      total.deadLetters += written.deadLetters;
    }
    return total;
  }
}

/** PostgreSQL refused the data itself (SQLSTATE classes 22 and 23), as opposed to being unreachable. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

function refused(message: AcceptedMessage, error: unknown): DeadLetter {
  return {
    topic: message.topic,
    deviceId: message.deviceId,
    payload: Buffer.from(JSON.stringify(message.body)),
    reason: `refused by PostgreSQL: ${(error as Error).message}`,
  };
}
