import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { Outbox } from '../store/outbox.js';

export const RECEIPT_SCHEMA = 'cspine.receipt.v1';

/** schemas/receipt.v1.json: the dashboard's word that these messages of one device are stored. */
export interface ReceiptPayload {
  schema: typeof RECEIPT_SCHEMA;
  deviceId: string;
  at: string;
  ids: string[];
}

export function receiptPayload(deviceId: string, ids: readonly string[], at = new Date()): ReceiptPayload {
  return { schema: RECEIPT_SCHEMA, deviceId, at: at.toISOString(), ids: [...ids] };
}

/** The ids a receipt confirms, or why it is not one for `deviceId` (checked by hand: the device never loads ajv). */
export function parseReceipt(payload: Buffer, deviceId: string): { ids: string[] } | { problem: string } {
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    return { problem: `not JSON: ${(error as Error).message}` };
  }
  const fields = (typeof body === 'object' && body !== null ? body : {}) as Partial<Record<keyof ReceiptPayload, unknown>>;
  if (fields.schema !== RECEIPT_SCHEMA) return { problem: `schema is ${JSON.stringify(fields.schema)}, not ${RECEIPT_SCHEMA}` };
  if (fields.deviceId !== deviceId) return { problem: `for device ${JSON.stringify(fields.deviceId)}, not ${deviceId}` };
  const ids = fields.ids;
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) return { problem: '"ids" is not a list of strings' };
  return { ids };
}

/** Heartbeats remembered by id: a receipt for one of these proves the dashboard heard us then. */
const HEARTBEATS_KEPT = 16;

/**
 * The device's side of receipts: records what the dashboard confirmed, and every quarter of
 * `resendAfterMs` has the outbox send again what was acknowledged by the broker but lost before
 * the dashboard (Outbox.requeueUnconfirmed says how that is told from a message still queued).
 * Heartbeats are not in the outbox, but a receipt for one moves the mark too, so the last
 * messages before a quiet spell are not left waiting for the next result.
 */
export class ReceiptWatch {
  private readonly heartbeats = new Map<string, string>();
  private heartbeatMark = '';
  private timer: NodeJS.Timeout | undefined;
  private rejected = false;

  constructor(
    private readonly outbox: Outbox,
    private readonly settings: Config['sync']['receipts'],
    private readonly deviceId: string,
    private readonly logger: Logger,
    /** Rows are undelivered again: send them. */
    private readonly onRequeued: () => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.resendLost(), Math.max(25, this.settings.resendAfterMs / 4));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  heartbeatSent(id: string, at = new Date()): void {
    this.heartbeats.set(id, at.toISOString());
    if (this.heartbeats.size > HEARTBEATS_KEPT) this.heartbeats.delete(this.heartbeats.keys().next().value!);
  }

  received(payload: Buffer): void {
    const receipt = parseReceipt(payload, this.deviceId);
    if ('problem' in receipt) {
      // Said once: a misconfigured dashboard would otherwise fill the log.
      if (!this.rejected) this.logger.warn({ problem: receipt.problem }, 'ignoring a receipt that is not one for this device');
      this.rejected = true;
      return;
    }
    for (const id of receipt.ids) {
      const sentAt = this.heartbeats.get(id);
      if (sentAt !== undefined && sentAt > this.heartbeatMark) this.heartbeatMark = sentAt;
    }
    try {
      this.outbox.markStored(receipt.ids);
    } catch (error) {
      // Not recorded: those rows may be sent once more, and the dashboard skips them by id.
      this.logger.error({ err: (error as Error).message, count: receipt.ids.length }, 'could not record a receipt');
    }
  }

  private resendLost(): void {
    let requeued: number;
    try {
      requeued = this.outbox.requeueUnconfirmed(new Date(Date.now() - this.settings.resendAfterMs), this.heartbeatMark);
    } catch (error) {
      this.logger.error({ err: (error as Error).message }, 'cannot check the outbox for messages the dashboard never confirmed');
      return;
    }
    if (requeued === 0) return;
    this.logger.warn(
      { count: requeued, resendAfterMs: this.settings.resendAfterMs },
      'the broker acknowledged messages the dashboard never confirmed, although it confirmed later ones (lost in the broker, e.g. a restart): sending them again',
    );
    this.onRequeued();
  }
}
