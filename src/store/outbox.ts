import crypto from 'node:crypto';
import { ErrorCode, StoreError } from '../errors.js';
import type { Db } from './database.js';

/** A result (its payload built from history when sent), an event or a model update report (each carrying its payload). */
export type OutboxKind = 'result' | 'event' | 'update';

export interface OutboxRow {
  id: number;
  messageId: string;
  kind: OutboxKind;
  imageId: number | null;
  payload: string | null;
  createdAt: string;
}

export interface OutboxBacklog {
  pending: number;
  oldestPendingAt: string | null;
}

interface RawRow {
  id: number;
  message_id: string;
  kind: OutboxKind;
  image_id: number | null;
  payload: string | null;
  created_at: string;
}

/**
 * The store-and-forward queue in front of MQTT. Rows leave only when the broker has
 * acknowledged them (PUBACK); until then they survive restarts and power cuts. The dashboard's
 * receipt then marks them stored; one the broker lost comes back (requeueUnconfirmed).
 */
export class Outbox {
  private readonly insert;
  private readonly selectPending;
  private readonly updateDelivered;
  private readonly selectBacklog;
  private readonly deleteOldEvents;
  private readonly updateStored;
  private readonly requeue;
  private readonly selectUnconfirmed;

  constructor(private readonly db: Db) {
    this.insert = db.prepare(
      `INSERT INTO outbox (message_id, kind, image_id, payload, created_at) VALUES (@messageId, @kind, @imageId, @payload, @createdAt)`,
    );
    this.selectPending = db.prepare(`SELECT id, message_id, kind, image_id, payload, created_at FROM outbox WHERE delivered_at IS NULL AND id > ? ORDER BY id LIMIT ?`);
    this.updateDelivered = db.prepare(`UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL`);
    this.selectBacklog = db.prepare(`SELECT count(*) AS pending, min(created_at) AS oldest FROM outbox WHERE delivered_at IS NULL`);
    this.deleteOldEvents = db.prepare(`DELETE FROM outbox WHERE kind IN ('event', 'update') AND delivered_at IS NOT NULL AND created_at < ?`);
    // A receipt can overtake the batched PUBACK record: it says delivered too.
    this.updateStored = db.prepare(`UPDATE outbox SET stored_at = @at, delivered_at = coalesce(delivered_at, @at) WHERE message_id = @messageId AND stored_at IS NULL`);
    // Lost between broker and dashboard: acknowledged long enough ago, and the dashboard has since
    // confirmed something this device sent after it (a row, or a heartbeat: `@mark`).
    this.requeue = db.prepare(`
      UPDATE outbox SET delivered_at = NULL
      WHERE stored_at IS NULL AND delivered_at IS NOT NULL AND delivered_at < @before
        AND delivered_at < max(@mark, coalesce((SELECT max(delivered_at) FROM outbox WHERE stored_at IS NOT NULL), ''))`);
    this.selectUnconfirmed = db.prepare(`SELECT count(*) FROM outbox WHERE stored_at IS NULL AND delivered_at IS NOT NULL`).pluck();
  }

  /** Queues a result; call inside the transaction that records it. Returns the message id. */
  addResult(imageId: number, at = new Date()): string {
    return this.add('result', imageId, null, at);
  }

  addEvent(payload: object, messageId: string = crypto.randomUUID(), at = new Date()): string {
    return this.addPayload('event', payload, messageId, at);
  }

  /** Queues a model update report (cspine.update.v1). */
  addUpdate(payload: object, messageId: string = crypto.randomUUID(), at = new Date()): string {
    return this.addPayload('update', payload, messageId, at);
  }

  /** Undelivered rows after `afterId`, oldest first. */
  pending(limit: number, afterId = 0): OutboxRow[] {
    return this.guard(() =>
      (this.selectPending.all(afterId, limit) as RawRow[]).map((row) => ({
        id: row.id,
        messageId: row.message_id,
        kind: row.kind,
        imageId: row.image_id,
        payload: row.payload,
        createdAt: row.created_at,
      })),
    );
  }

  /** One transaction for a batch of acknowledgements: fewer fsyncs, less SD card wear. */
  markDelivered(ids: readonly number[], at = new Date()): void {
    if (ids.length === 0) return;
    const stamp = at.toISOString();
    this.guard(() => this.db.transaction(() => ids.forEach((id) => this.updateDelivered.run(stamp, id)))());
  }

  /** The dashboard's receipt: these messages are stored. Returns how many rows it confirmed. */
  markStored(messageIds: readonly string[], at = new Date()): number {
    if (messageIds.length === 0) return 0;
    const stamp = at.toISOString();
    return this.guard(() => this.db.transaction(() => messageIds.reduce((sum, messageId) => sum + this.updateStored.run({ at: stamp, messageId }).changes, 0))());
  }

  /**
   * Marks undelivered again, to be sent again, the rows acknowledged before `before` that the
   * dashboard has not confirmed although it confirmed a row delivered after them, or a heartbeat
   * sent at `heartbeatMark` (ISO) after them. Returns how many.
   */
  requeueUnconfirmed(before: Date, heartbeatMark = ''): number {
    return this.guard(() => this.requeue.run({ before: before.toISOString(), mark: heartbeatMark }).changes);
  }

  /** Delivered to the broker, not yet confirmed by the dashboard. */
  awaitingReceipt(): number {
    return this.guard(() => this.selectUnconfirmed.get() as number);
  }

  backlog(): OutboxBacklog {
    const row = this.guard(() => this.selectBacklog.get() as { pending: number; oldest: string | null });
    return { pending: row.pending, oldestPendingAt: row.oldest };
  }

  /** Delivered events and update reports older than `olderThan`; result rows go with their history record. */
  pruneDeliveredEvents(olderThan: Date): number {
    return this.guard(() => this.deleteOldEvents.run(olderThan.toISOString()).changes);
  }

  private addPayload(kind: 'event' | 'update', payload: object, messageId: string, at: Date): string {
    return this.guard(() => this.add(kind, null, JSON.stringify({ ...payload, id: messageId }), at, messageId));
  }

  private add(kind: OutboxKind, imageId: number | null, payload: string | null, at: Date, messageId: string = crypto.randomUUID()): string {
    this.insert.run({ messageId, kind, imageId, payload, createdAt: at.toISOString() });
    return messageId;
  }

  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw new StoreError(ErrorCode.STORE_FAILED, `outbox database error: ${(error as Error).message}`, { cause: error });
    }
  }
}
