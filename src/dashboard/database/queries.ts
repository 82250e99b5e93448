import type pg from 'pg';
import { CHANNEL } from './channels.js';

export const LEVELS = ['GREEN', 'AMBER', 'RED'] as const;
export type Level = (typeof LEVELS)[number];

export interface ModelRef {
  id: string;
  sha256: string;
}

/** One result as lists, the live feed and the CSV show it. Carries pseudonyms only, never a file name. */
export interface ResultSummary {
  id: string;
  /** Ingest order in this database; the live feed's position. */
  seq: number;
  deviceId: string;
  processedAt: string;
  ingestedAt: string;
  outcome: 'classified' | 'rejected';
  level: Level;
  reason: string;
  label: string | null;
  probabilities: Record<string, number> | null;
  model: ModelRef | null;
  errorCode: string | null;
  sourceRef: string | null;
  acknowledged: { by: string; at: string } | null;
  /** Where the next page of a newest-first list starts (`before=`). */
  cursor: string;
}

export interface ResultDetail extends ResultSummary {
  /** The message as the device sent it, less `image.source`. */
  payload: Record<string, unknown>;
}

export interface DeviceSummary {
  deviceId: string;
  state: 'online' | 'offline' | null;
  since: string | null;
  lastHeartbeatAt: string | null;
  lastResultAt: string | null;
  version: string | null;
  /** The device's own condition from its status: starting, ready, or fault with a code. */
  condition: { state: string; code?: string; since?: string } | null;
  /** The model it runs, from its newest heartbeat or result. */
  model: ModelRef | null;
  outboxPending: number | null;
  diskFreeBytes: number | null;
  lamp: string | null;
}

export interface ResultFilter {
  device?: string;
  level?: Level;
  acknowledged?: boolean;
  /** processed at or after */
  since?: Date;
  /** processed before */
  until?: Date;
  /** A `cursor` from the previous page: only results older than that one. */
  before?: ResultCursor;
  limit: number;
}

/** A position in the newest-first order: processed_at in whole microseconds, then seq. */
export interface ResultCursor {
  processedMicros: bigint;
  seq: bigint;
}

export interface ResultPage {
  results: ResultSummary[];
  /** null on the last page */
  nextCursor: string | null;
}

export type AcknowledgeOutcome =
  | { status: 'acknowledged'; result: ResultSummary; /** an earlier acknowledgement stands */ already: boolean }
  | { status: 'not-found' }
  | { status: 'not-red'; level: Level };

const CURSOR = /^(\d{1,19})-(\d{1,19})$/;

export function formatCursor(cursor: ResultCursor): string {
  return `${cursor.processedMicros}-${cursor.seq}`;
}

export function parseCursor(text: string): ResultCursor | undefined {
  const match = CURSOR.exec(text);
  return match ? { processedMicros: BigInt(match[1]!), seq: BigInt(match[2]!) } : undefined;
}

// Summaries read a few fields out of the payload; the image's file name is never among them.
const SUMMARY_COLUMNS = `
  id, seq, device_id, processed_at, ingested_at, outcome, level, label, model_id, model_sha256,
  payload->'triage'->>'reason' AS reason,
  payload->'error'->>'code' AS error_code,
  payload->'probabilities' AS probabilities,
  payload->'image'->>'sourceRef' AS source_ref,
  acknowledged_by, acknowledged_at,
  (extract(epoch FROM processed_at) * 1000000)::bigint AS processed_micros`;

interface SummaryRow {
  id: string;
  seq: string;
  device_id: string;
  processed_at: Date;
  ingested_at: Date;
  outcome: 'classified' | 'rejected';
  level: Level;
  label: string | null;
  model_id: string | null;
  model_sha256: string | null;
  reason: string | null;
  error_code: string | null;
  probabilities: Record<string, number> | null;
  source_ref: string | null;
  acknowledged_by: string | null;
  acknowledged_at: Date | null;
  processed_micros: string;
}

function toSummary(row: SummaryRow): ResultSummary {
  return {
    id: row.id,
    seq: Number(row.seq),
    deviceId: row.device_id,
    processedAt: row.processed_at.toISOString(),
    ingestedAt: row.ingested_at.toISOString(),
    outcome: row.outcome,
    level: row.level,
    reason: row.reason ?? '',
    label: row.label,
    probabilities: row.probabilities,
    model: row.model_id !== null && row.model_sha256 !== null ? { id: row.model_id, sha256: row.model_sha256 } : null,
    errorCode: row.error_code,
    sourceRef: row.source_ref,
    acknowledged: row.acknowledged_by !== null && row.acknowledged_at !== null ? { by: row.acknowledged_by, at: row.acknowledged_at.toISOString() } : null,
    cursor: formatCursor({ processedMicros: BigInt(row.processed_micros), seq: BigInt(row.seq) }),
  };
}

interface DeviceRow {
  device_id: string;
  state: 'online' | 'offline' | null;
  state_since: Date | null;
  condition: DeviceSummary['condition'];
  version: string | null;
  health: HealthPayload | null;
  health_at: Date | null;
  last_result_at: Date | null;
  result_model_id: string | null;
  result_model_sha256: string | null;
  result_model_at: Date | null;
}

/** The parts of schemas/health.v1.json the fleet table shows. */
interface HealthPayload {
  lamp?: { level?: string | null };
  outbox?: { pending?: number };
  model?: ModelRef | null;
  diskFreeBytes?: number | null;
}

/** The model of whichever is newer, the heartbeat or the latest result: a switch shows with the first result after it. */
function modelInService(row: DeviceRow): ModelRef | null {
  const fromResult = row.result_model_id !== null && row.result_model_sha256 !== null ? { id: row.result_model_id, sha256: row.result_model_sha256 } : null;
  if (row.health_at === null) return fromResult;
  if (fromResult && row.result_model_at !== null && row.result_model_at > row.health_at) return fromResult;
  return row.health?.model ?? null;
}

function toDevice(row: DeviceRow): DeviceSummary {
  const health = row.health;
  return {
    deviceId: row.device_id,
    state: row.state,
    since: row.state_since?.toISOString() ?? null,
    lastHeartbeatAt: row.health_at?.toISOString() ?? null,
    lastResultAt: row.last_result_at?.toISOString() ?? null,
    version: row.version,
    condition: row.condition,
    model: modelInService(row),
    outboxPending: health?.outbox?.pending ?? null,
    diskFreeBytes: health?.diskFreeBytes ?? null,
    lamp: health?.lamp?.level ?? null,
  };
}

/** The dashboard's read side, and the one write the page makes (acknowledging). */
export class DashboardQueries {
  constructor(private readonly database: { readonly pool: pg.Pool }) {}

  async fleet(): Promise<DeviceSummary[]> {
    const { rows } = await this.database.pool.query<DeviceRow>(
      `SELECT d.device_id, d.state, d.state_since, d.condition, d.version, d.health, d.health_at, d.last_result_at,
              r.model_id AS result_model_id, r.model_sha256 AS result_model_sha256, r.processed_at AS result_model_at
         FROM devices d
         LEFT JOIN LATERAL (SELECT model_id, model_sha256, processed_at FROM results
                             WHERE results.device_id = d.device_id AND model_id IS NOT NULL
                             ORDER BY processed_at DESC LIMIT 1) r ON true
        ORDER BY d.device_id`,
    );
    return rows.map(toDevice);
  }

  /** Newest first, paged by keyset (`before`), so a deep page costs what the first one does. */
  async results(filter: ResultFilter): Promise<ResultPage> {
    const conditions: string[] = [];
    const values: unknown[] = [];
    const bind = (value: unknown) => `$${values.push(value)}`;
    if (filter.device !== undefined) conditions.push(`device_id = ${bind(filter.device)}`);
    if (filter.level !== undefined) conditions.push(`level = ${bind(filter.level)}`);
    if (filter.acknowledged !== undefined) conditions.push(`acknowledged_at IS ${filter.acknowledged ? 'NOT ' : ''}NULL`);
    if (filter.since !== undefined) conditions.push(`processed_at >= ${bind(filter.since)}`);
    if (filter.until !== undefined) conditions.push(`processed_at < ${bind(filter.until)}`);
    if (filter.before !== undefined) {
      conditions.push(
        `(processed_at, seq) < (timestamptz 'epoch' + ${bind(filter.before.processedMicros.toString())}::bigint * interval '1 microsecond', ${bind(filter.before.seq.toString())}::bigint)`,
      );
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    // One row more than asked says whether there is a next page.
    const { rows } = await this.database.pool.query<SummaryRow>(
      `SELECT ${SUMMARY_COLUMNS} FROM results ${where} ORDER BY processed_at DESC, seq DESC LIMIT ${bind(filter.limit + 1)}`,
      values,
    );
    const results = rows.slice(0, filter.limit).map(toSummary);
    const last = results[results.length - 1];
    return { results, nextCursor: rows.length > filter.limit && last ? last.cursor : null };
  }

  async result(id: string): Promise<ResultDetail | undefined> {
    const { rows } = await this.database.pool.query<SummaryRow & { payload: Record<string, unknown> }>(
      `SELECT ${SUMMARY_COLUMNS}, payload #- '{image,source}' AS payload FROM results WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    return row && { ...toSummary(row), payload: row.payload };
  }

  /**
   * RED results only. The first acknowledgement stands: a second one (a double tap, two
   * clinicians at once) returns the first one's who and when.
   */
  async acknowledge(id: string, user: string): Promise<AcknowledgeOutcome> {
    const updated = await this.database.pool.query<SummaryRow>(
      `UPDATE results SET acknowledged_by = $2, acknowledged_at = clock_timestamp()
        WHERE id = $1 AND level = 'RED' AND acknowledged_at IS NULL
        RETURNING ${SUMMARY_COLUMNS}`,
      [id, user],
    );
    const first = updated.rows[0];
    if (first) {
      await this.database.pool.query('SELECT pg_notify($1, $2)', [CHANNEL.acknowledged, id]);
      return { status: 'acknowledged', result: toSummary(first), already: false };
    }
    const { rows } = await this.database.pool.query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM results WHERE id = $1`, [id]);
    const existing = rows[0];
    if (!existing) return { status: 'not-found' };
    if (existing.level !== 'RED') return { status: 'not-red', level: existing.level };
    return { status: 'acknowledged', result: toSummary(existing), already: true };
  }

  /** The live feed's read: results ingested after `afterSeq`, plus the listed seqs, in ingest order. */
  async resultsAfter(afterSeq: number, alsoSeqs: readonly number[], limit: number): Promise<ResultSummary[]> {
    const { rows } = await this.database.pool.query<SummaryRow>(
      `SELECT ${SUMMARY_COLUMNS} FROM results WHERE seq > $1 OR seq = ANY($2::bigint[]) ORDER BY seq LIMIT $3`,
      [afterSeq, alsoSeqs, limit],
    );
    return rows.map(toSummary);
  }

  async resultsByIds(ids: readonly string[]): Promise<ResultSummary[]> {
    const { rows } = await this.database.pool.query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM results WHERE id = ANY($1::uuid[]) ORDER BY seq`, [ids]);
    return rows.map(toSummary);
  }

  async latestSeq(): Promise<number> {
    const { rows } = await this.database.pool.query<{ seq: string | null }>('SELECT max(seq) AS seq FROM results');
    return Number(rows[0]?.seq ?? 0);
  }
}
