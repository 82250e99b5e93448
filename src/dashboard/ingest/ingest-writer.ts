import type pg from 'pg';
import { CHANNEL } from '../database/channels.js';
import type { AcceptedMessage, DeadLetter } from './messages.js';

export interface WrittenBatch {
  /** Rows new to the database; the rest were already there (a message delivered twice). */
  inserted: { result: number; event: number; health: number; update: number };
  duplicates: number;
  deadLetters: number;
}

/** The latest of each kind per device in a batch, folded into its `devices` row. */
interface DeviceSummary {
  device_id: string;
  state: string | null;
  state_at: string | null;
  state_since: string | null;
  condition: unknown;
  version: string | null;
  health: unknown;
  health_at: string | null;
  last_result_at: string | null;
}

/**
 * Writes one batch of messages as one statement, so one transaction and one round trip:
 * results, events, heartbeats and update reports by their `id` (a message the broker delivers
 * again is skipped, never stored twice), each device's latest status and heartbeat, each
 * rollout device's newest update report, the dead letters, and the notifications for the
 * pages. Returns only after COMMIT: the caller acknowledges the messages to the broker then,
 * so a crash before it loses nothing.
 */
export async function writeBatch(db: pg.Pool | pg.ClientBase, accepted: readonly AcceptedMessage[], dead: readonly DeadLetter[]): Promise<WrittenBatch> {
  const byKind = (kind: AcceptedMessage['kind']) => JSON.stringify(accepted.filter((message) => message.kind === kind).map((message) => message.body));
  const devices = summarizeDevices(accepted);
  const { rows } = await db.query<{ results: number; events: number; health: number; updates: number }>(WRITE_BATCH, [
    byKind('result'),
    byKind('event'),
    byKind('health'),
    JSON.stringify(devices),
    dead.map((letter) => letter.topic),
    dead.map((letter) => letter.deviceId ?? null),
    dead.map((letter) => letter.payload),
    dead.map((letter) => letter.reason),
    byKind('update'),
  ]);
  const row = rows[0] ?? { results: 0, events: 0, health: 0, updates: 0 };
  const inserted = { result: row.results, event: row.events, health: row.health, update: row.updates };
  const stored = accepted.filter((message) => message.kind !== 'status').length;
  return { inserted, duplicates: stored - inserted.result - inserted.event - inserted.health - inserted.update, deadLetters: dead.length };
}

// Every data-modifying CTE runs exactly once, whether or not the final SELECT reads it.
// Device rows are upserted in device-id order: two dashboard processes committing at once lock
// them in the same order and cannot deadlock.
const WRITE_BATCH = `
WITH new_results AS (
  INSERT INTO results (id, device_id, processed_at, outcome, level, label, model_id, model_sha256, payload)
  SELECT (r->>'id')::uuid, r->>'deviceId', (r->>'processedAt')::timestamptz, r->>'outcome', r#>>'{triage,level}',
         r->>'label', r#>>'{model,id}', r#>>'{model,sha256}', r
  FROM jsonb_array_elements($1::jsonb) AS r
  ON CONFLICT (id) DO NOTHING
  RETURNING 1
), new_events AS (
  INSERT INTO events (id, device_id, at, severity, code, message, payload)
  SELECT (e->>'id')::uuid, e->>'deviceId', (e->>'at')::timestamptz, e->>'severity', e->>'code', e->>'message', e
  FROM jsonb_array_elements($2::jsonb) AS e
  ON CONFLICT (id) DO NOTHING
  RETURNING 1
), new_health AS (
  INSERT INTO health (id, device_id, at, payload)
  SELECT (h->>'id')::uuid, h->>'deviceId', (h->>'at')::timestamptz, h
  FROM jsonb_array_elements($3::jsonb) AS h
  ON CONFLICT (id) DO NOTHING
  RETURNING 1
), changed_devices AS (
  INSERT INTO devices AS d (device_id, state, state_at, state_since, condition, version, health, health_at, last_result_at)
  SELECT s.device_id, s.state, s.state_at, s.state_since, s.condition, s.version, s.health, s.health_at, s.last_result_at
  FROM jsonb_to_recordset($4::jsonb) AS s(device_id text, state text, state_at timestamptz, state_since timestamptz, condition jsonb,
                                           version text, health jsonb, health_at timestamptz, last_result_at timestamptz)
  ORDER BY s.device_id
  ON CONFLICT (device_id) DO UPDATE SET
    -- a newer status wins; "since" moves only when the state changes
    state_since = CASE WHEN excluded.state_at > d.state_at OR d.state_at IS NULL
                       THEN CASE WHEN excluded.state IS DISTINCT FROM d.state THEN excluded.state_since ELSE d.state_since END
                       ELSE d.state_since END,
    state       = CASE WHEN excluded.state_at > d.state_at OR d.state_at IS NULL THEN excluded.state ELSE d.state END,
    condition   = CASE WHEN excluded.state_at > d.state_at OR d.state_at IS NULL THEN excluded.condition ELSE d.condition END,
    state_at    = greatest(d.state_at, excluded.state_at),
    health      = CASE WHEN excluded.health_at > d.health_at OR d.health_at IS NULL THEN coalesce(excluded.health, d.health) ELSE d.health END,
    health_at   = greatest(d.health_at, excluded.health_at),
    version     = coalesce(excluded.version, d.version),
    last_result_at = greatest(d.last_result_at, excluded.last_result_at)
  RETURNING 1
), new_updates AS (
  INSERT INTO update_reports (id, device_id, rollout_id, command_id, at, state, payload)
  SELECT (u->>'id')::uuid, u->>'deviceId', (u->>'rolloutId')::uuid, (u->>'commandId')::uuid, (u->>'at')::timestamptz, u->>'state', u
  FROM jsonb_array_elements($9::jsonb) AS u
  ON CONFLICT (id) DO NOTHING
  RETURNING device_id, rollout_id, command_id, at, state, payload
), changed_rollout_devices AS (
  -- Per device, its newest report about the command it was last sent (install or rollback); a
  -- report about an older command, or older than the one already applied, changes nothing.
  UPDATE rollout_devices AS rd SET
    state       = n.state,
    bytes_done  = coalesce((n.payload->>'bytesDone')::bigint, rd.bytes_done),
    bytes_total = coalesce((n.payload->>'bytesTotal')::bigint, rd.bytes_total),
    code        = n.payload->>'code',
    message     = n.payload->>'message',
    reported_at = n.at
  FROM (SELECT DISTINCT ON (u.rollout_id, u.device_id) u.*
          FROM new_updates u
          JOIN rollout_devices c ON c.rollout_id = u.rollout_id AND c.device_id = u.device_id
                                AND u.command_id IN (c.command_id, c.rollback_command_id)
         ORDER BY u.rollout_id, u.device_id, u.at DESC) AS n
  WHERE rd.rollout_id = n.rollout_id AND rd.device_id = n.device_id AND (rd.reported_at IS NULL OR rd.reported_at < n.at)
  RETURNING 1
), new_dead_letters AS (
  INSERT INTO dead_letters (topic, device_id, payload, reason)
  SELECT * FROM unnest($5::text[], $6::text[], $7::bytea[], $8::text[])
  RETURNING 1
), counts AS (
  SELECT (SELECT count(*) FROM new_results)::int AS results,
         (SELECT count(*) FROM new_events)::int AS events,
         (SELECT count(*) FROM new_health)::int AS health,
         (SELECT count(*) FROM changed_devices)::int AS devices,
         (SELECT count(*) FROM new_updates)::int AS updates,
         (SELECT count(*) FROM changed_rollout_devices)::int AS rollout_devices
)
-- Delivered with the commit; several in one transaction reach a listener once.
SELECT results, events, health, updates,
       CASE WHEN results > 0 THEN pg_notify('${CHANNEL.results}', '') END AS notified_results,
       CASE WHEN devices > 0 THEN pg_notify('${CHANNEL.devices}', '') END AS notified_devices,
       CASE WHEN rollout_devices > 0 THEN pg_notify('${CHANNEL.rollouts}', '') END AS notified_rollouts
FROM counts`;

/** One summary per device: its latest result time, heartbeat and status in the batch. */
function summarizeDevices(messages: readonly AcceptedMessage[]): DeviceSummary[] {
  const summaries = new Map<string, DeviceSummary>();
  for (const message of messages) {
    // Update reports (many while a package downloads) say nothing the fleet table shows.
    if (message.kind === 'update') continue;
    let summary = summaries.get(message.deviceId);
    if (!summary) {
      summary = { device_id: message.deviceId, state: null, state_at: null, state_since: null, condition: null, version: null, health: null, health_at: null, last_result_at: null };
      summaries.set(message.deviceId, summary);
    }
    const { body } = message;
    if (message.kind === 'result') {
      summary.last_result_at = latest(summary.last_result_at, String(body.processedAt));
    } else if (message.kind === 'health') {
      if (summary.health_at === null || String(body.at) > summary.health_at) {
        summary.health = body;
        summary.health_at = String(body.at);
        summary.version = String(body.version);
      }
    } else if (message.kind === 'status') {
      const at = String(body.at);
      if (summary.state_at === null || at > summary.state_at) {
        summary.state = String(body.state);
        summary.state_at = at;
        // A device's last will carries the time it connected; the moment it went offline is
        // when the broker sent the will, which is now unless the message was retained.
        summary.state_since = body.state === 'offline' && !message.retained ? message.receivedAt.toISOString() : at;
        summary.condition = body.device ?? null;
        summary.version = String(body.version);
      }
    }
  }
  return [...summaries.values()];
}

function latest(a: string | null, b: string): string {
  return a === null || Date.parse(b) > Date.parse(a) ? b : a;
}
