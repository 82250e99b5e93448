import crypto from 'node:crypto';
import type pg from 'pg';
import { CspineError, ErrorCode } from '../../errors.js';
import { CHANNEL } from '../database/channels.js';
import type { PackageStore, UpdatesSettings } from './package-store.js';
import { tokenSha256 } from './model-commands.js';
import { planRollout, type TargetRequest } from './rollout-plan.js';

export type RolloutState = 'canary' | 'rolling' | 'complete' | 'halted' | 'rolled-back';
/** pending and sent are the dashboard's; the others are the device's own reports (schemas/update.v1.json). */
export type DeviceUpdateState = 'pending' | 'sent' | 'downloading' | 'testing' | 'active' | 'confirmed' | 'failed' | 'rolled-back';

export interface RolloutSummary {
  id: string;
  package: { manifestSha256: string; modelId: string };
  target: string;
  state: RolloutState;
  /** Why it halted or was rolled back. */
  reason: string | null;
  autoAdvance: boolean;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  devices: { total: number; canary: number; byState: Partial<Record<DeviceUpdateState, number>> };
}

export interface RolloutDevice {
  deviceId: string;
  stage: 'canary' | 'main';
  state: DeviceUpdateState;
  /** The install command's id (the one the device's reports name). */
  commandId: string;
  sentAt: string | null;
  bytesDone: number | null;
  bytesTotal: number | null;
  code: string | null;
  message: string | null;
  /** The device's own time of its newest report. */
  reportedAt: string | null;
  rollback: { commandId: string; sentAt: string | null } | null;
}

export interface RolloutRequest extends TargetRequest {
  /** A manifest SHA-256 or an unambiguous start of one. */
  package: string;
  autoAdvance?: boolean;
  createdBy: string;
}

/** Serialises rollout creation: two at once must not both take the same device. */
const CREATE_LOCK = 7_301_516;

function invalid(message: string, details?: Record<string, unknown>): CspineError {
  return new CspineError(ErrorCode.DASHBOARD_ROLLOUT_INVALID, message, details ? { details } : undefined);
}

/** A rollout id that does not exist: the API answers 404 rather than 409. */
export function isUnknownRollout(error: unknown): boolean {
  return error instanceof CspineError && error.code === ErrorCode.DASHBOARD_ROLLOUT_INVALID && error.details?.unknownRollout === true;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function unknownRollout(id: string): CspineError {
  return invalid(`no rollout ${id} (dashboard rollout list)`, { unknownRollout: true });
}

const SUMMARY = `
  SELECT r.id, r.package_sha256, p.model_id, r.target, r.state, r.reason, r.auto_advance, r.created_at, r.created_by, r.updated_at,
         (SELECT count(*) FROM rollout_devices d WHERE d.rollout_id = r.id)::int AS total,
         (SELECT count(*) FROM rollout_devices d WHERE d.rollout_id = r.id AND d.stage = 'canary')::int AS canary,
         (SELECT jsonb_object_agg(s.state, s.n) FROM (SELECT d.state, count(*) AS n FROM rollout_devices d WHERE d.rollout_id = r.id GROUP BY d.state) s) AS by_state
    FROM rollouts r JOIN model_packages p ON p.manifest_sha256 = r.package_sha256`;

interface SummaryRow {
  id: string;
  package_sha256: string;
  model_id: string;
  target: string;
  state: RolloutState;
  reason: string | null;
  auto_advance: boolean;
  created_at: Date;
  created_by: string;
  updated_at: Date;
  total: number;
  canary: number;
  by_state: Partial<Record<DeviceUpdateState, number>> | null;
}

function toSummary(row: SummaryRow): RolloutSummary {
  return {
    id: row.id,
    package: { manifestSha256: row.package_sha256, modelId: row.model_id },
    target: row.target,
    state: row.state,
    reason: row.reason,
    autoAdvance: row.auto_advance,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    updatedAt: row.updated_at.toISOString(),
    devices: { total: row.total, canary: row.canary, byState: row.by_state ?? {} },
  };
}

interface DeviceRow {
  device_id: string;
  stage: 'canary' | 'main';
  state: DeviceUpdateState;
  command_id: string;
  sent_at: Date | null;
  bytes_done: string | null;
  bytes_total: string | null;
  code: string | null;
  message: string | null;
  reported_at: Date | null;
  rollback_command_id: string | null;
  rollback_sent_at: Date | null;
}

function toDevice(row: DeviceRow): RolloutDevice {
  return {
    deviceId: row.device_id,
    stage: row.stage,
    state: row.state,
    commandId: row.command_id,
    sentAt: row.sent_at?.toISOString() ?? null,
    bytesDone: row.bytes_done === null ? null : Number(row.bytes_done),
    bytesTotal: row.bytes_total === null ? null : Number(row.bytes_total),
    code: row.code,
    message: row.message,
    reportedAt: row.reported_at?.toISOString() ?? null,
    rollback: row.rollback_command_id === null ? null : { commandId: row.rollback_command_id, sentAt: row.rollback_sent_at?.toISOString() ?? null },
  };
}

/**
 * Rollouts and their state machine, in PostgreSQL. Every transition is one conditional UPDATE
 * (`WHERE state = …`): when several dashboard processes see the same reports, the row lock lets
 * exactly one of them make each transition and the others find nothing left to change.
 *
 *   canary ──(every canary active/confirmed, autoAdvance; or advance)──▶ rolling ──(all active/confirmed)──▶ complete
 *     │ └─────────────(all active/confirmed: the canaries were everyone)─────────────────────────────▶ complete
 *     └─ a device reports failed or rolled-back, or halt ─▶ halted
 *   any but rolled-back ── rollback ──▶ rolled-back
 */
export class Rollouts {
  constructor(
    private readonly database: { readonly pool: pg.Pool },
    private readonly settings: UpdatesSettings,
    private readonly packages: PackageStore,
  ) {}

  /** One row per device, the canaries' commands due at once (the rest once the stage completes). */
  async create(request: RolloutRequest): Promise<RolloutSummary> {
    const found = await this.packages.resolve(request.package);
    const id = crypto.randomUUID();
    const client = await this.database.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [CREATE_LOCK]);
      const { rows: known } = await client.query<{ device_id: string }>('SELECT device_id FROM devices');
      const plan = planRollout(request, new Set(known.map((row) => row.device_id)), this.settings.groups, this.settings.canaryPercent);
      const { rows: busy } = await client.query<{ device_id: string; rollout_id: string; state: string }>(
        `SELECT d.device_id, d.rollout_id, r.state FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
          WHERE r.state IN ('canary', 'rolling') AND d.device_id = ANY($1) ORDER BY d.device_id`,
        [plan.devices],
      );
      if (busy.length > 0) {
        const list = busy.map((row) => `${row.device_id} (rollout ${row.rollout_id}, ${row.state})`).join(', ');
        throw invalid(`already being updated: ${list}; halt or roll back that rollout first`);
      }
      await client.query(`INSERT INTO rollouts (id, package_sha256, created_by, target, auto_advance, state) VALUES ($1, $2, $3, $4, $5, $6)`, [
        id,
        found.manifestSha256,
        request.createdBy,
        plan.description,
        request.autoAdvance ?? this.settings.autoAdvance,
        plan.canaries.size > 0 ? 'canary' : 'rolling',
      ]);
      await client.query(
        `INSERT INTO rollout_devices (rollout_id, device_id, stage, command_id)
         SELECT $1, device_id, stage, command_id FROM unnest($2::text[], $3::text[], $4::uuid[]) AS d(device_id, stage, command_id)`,
        [id, plan.devices, plan.devices.map((device) => (plan.canaries.has(device) ? 'canary' : 'main')), plan.devices.map(() => crypto.randomUUID())],
      );
      await client.query('SELECT pg_notify($1, $2)', [CHANNEL.rollouts, id]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    return (await this.get(id))!;
  }

  /** Newest first. */
  async list(limit = 50): Promise<RolloutSummary[]> {
    const { rows } = await this.database.pool.query<SummaryRow>(`${SUMMARY} ORDER BY r.created_at DESC, r.id LIMIT $1`, [limit]);
    return rows.map(toSummary);
  }

  async get(id: string): Promise<RolloutSummary | undefined> {
    if (!UUID.test(id)) return undefined;
    const { rows } = await this.database.pool.query<SummaryRow>(`${SUMMARY} WHERE r.id = $1`, [id]);
    return rows[0] && toSummary(rows[0]);
  }

  /** The rollout with one row per device: canaries first. */
  async show(id: string): Promise<{ rollout: RolloutSummary; devices: RolloutDevice[] } | undefined> {
    const rollout = await this.get(id);
    if (!rollout) return undefined;
    const { rows } = await this.database.pool.query<DeviceRow>(
      `SELECT device_id, stage, state, command_id, sent_at, bytes_done, bytes_total, code, message, reported_at, rollback_command_id, rollback_sent_at
         FROM rollout_devices WHERE rollout_id = $1 ORDER BY stage = 'main', device_id`,
      [id],
    );
    return { rollout, devices: rows.map(toDevice) };
  }

  /**
   * Whether `token` was issued to a device of a rollout of this package that is not rolled
   * back. Compared by hash: the database holds no token.
   */
  async mayDownload(manifestSha256: string, token: string): Promise<boolean> {
    const { rowCount } = await this.database.pool.query(
      `SELECT 1 FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
        WHERE d.token_sha256 = $1 AND r.package_sha256 = $2 AND r.state <> 'rolled-back'`,
      [tokenSha256(token), manifestSha256],
    );
    return (rowCount ?? 0) > 0;
  }

  /** The canary stage ends now, whatever the canaries reported: the rest get their commands. */
  advance(id: string): Promise<RolloutSummary> {
    return this.transition(id, `UPDATE rollouts SET state = 'rolling', updated_at = now() WHERE id = $1 AND state = 'canary'`, [], 'only a rollout in its canary stage can advance');
  }

  /** No further commands go out; devices that have theirs carry on (roll back to undo them). */
  halt(id: string, by: string): Promise<RolloutSummary> {
    return this.transition(id, `UPDATE rollouts SET state = 'halted', reason = $2, updated_at = now() WHERE id = $1 AND state IN ('canary', 'rolling')`, [`halted by ${by}`], 'only a rollout in progress can be halted');
  }

  /**
   * Every device that was sent the install (or may have been: a command being published)
   * gets a rollback command; the installs not yet sent never go out. Download tokens of the
   * rollout stop working.
   */
  rollback(id: string, by: string): Promise<RolloutSummary> {
    return this.transition(
      id,
      // Data-modifying CTEs run whatever the final SELECT reads; it counts the rollout, not its devices.
      `WITH rolled AS (
         UPDATE rollouts SET state = 'rolled-back', reason = $2, updated_at = now() WHERE id = $1 AND state <> 'rolled-back' RETURNING id
       ), marked AS (
         UPDATE rollout_devices SET rollback_command_id = gen_random_uuid()
          WHERE rollout_id IN (SELECT id FROM rolled) AND (state <> 'pending' OR issued_at IS NOT NULL)
       )
       SELECT id FROM rolled`,
      [`rolled back by ${by}`],
      'it is rolled back already',
    );
  }

  private async transition(id: string, sql: string, values: unknown[], refusal: string): Promise<RolloutSummary> {
    const { rowCount } = UUID.test(id) ? await this.database.pool.query(sql, [id, ...values]) : { rowCount: 0 };
    if (!rowCount) {
      const current = await this.get(id);
      throw current ? invalid(`rollout ${id} is ${current.state}: ${refusal}`) : unknownRollout(id);
    }
    await this.database.pool.query('SELECT pg_notify($1, $2)', [CHANNEL.rollouts, id]);
    return (await this.get(id))!;
  }

  /**
   * The automatic transitions, for every rollout in progress: halt on a failed or rolled-back
   * device, complete when every device runs the package, end the canary stage when every canary
   * does (autoAdvance). Safe to run by any number of processes at once; returns how many changed.
   */
  async settle(): Promise<number> {
    const pool = this.database.pool;
    let changed = 0;
    changed += (await pool.query(HALT_ON_FAILURE)).rowCount ?? 0;
    changed += (await pool.query(COMPLETE)).rowCount ?? 0;
    changed += (await pool.query(AUTO_ADVANCE)).rowCount ?? 0;
    if (changed > 0) await pool.query('SELECT pg_notify($1, $2)', [CHANNEL.rollouts, '']);
    return changed;
  }
}

const IN_PROGRESS = `state IN ('canary', 'rolling')`;
const RUNS_IT = `('active', 'confirmed')`;

const HALT_ON_FAILURE = `
  UPDATE rollouts r SET state = 'halted', updated_at = now(),
         reason = f.device_id || ' reported ' || f.state || coalesce(': ' || f.code, '') || coalesce(' ' || f.message, '')
    FROM (SELECT DISTINCT ON (d.rollout_id) d.rollout_id, d.device_id, d.state, d.code, d.message
            FROM rollout_devices d JOIN rollouts a ON a.id = d.rollout_id AND a.${IN_PROGRESS}
           WHERE d.state IN ('failed', 'rolled-back')
           ORDER BY d.rollout_id, d.reported_at) f
   WHERE r.id = f.rollout_id AND r.${IN_PROGRESS}`;

const COMPLETE = `
  UPDATE rollouts r SET state = 'complete', updated_at = now()
   WHERE r.${IN_PROGRESS}
     AND NOT EXISTS (SELECT 1 FROM rollout_devices d WHERE d.rollout_id = r.id AND d.state NOT IN ${RUNS_IT})`;

const AUTO_ADVANCE = `
  UPDATE rollouts r SET state = 'rolling', updated_at = now()
   WHERE r.state = 'canary' AND r.auto_advance
     AND NOT EXISTS (SELECT 1 FROM rollout_devices d WHERE d.rollout_id = r.id AND d.stage = 'canary' AND d.state NOT IN ${RUNS_IT})`;
