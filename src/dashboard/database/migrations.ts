import type pg from 'pg';
import { CspineError, ErrorCode } from '../../errors.js';

/**
 * The dashboard's PostgreSQL schema, one entry per version. Append only: a database may be
 * several versions behind the code that opens it.
 */
export const MIGRATIONS: readonly string[] = [
  `
  -- One row per device that has ever sent anything: its latest status, condition and heartbeat,
  -- kept up to date by ingest so that the fleet table is one index scan.
  CREATE TABLE devices (
    device_id      text PRIMARY KEY,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    state          text CHECK (state IN ('online', 'offline')),
    -- the status payload's own time, to keep the newest when messages arrive out of order
    state_at       timestamptz,
    -- when the current online/offline state began
    state_since    timestamptz,
    -- the device's condition from its status (ready, fault with a code, ...)
    condition      jsonb,
    version        text,
    health         jsonb,
    health_at      timestamptz,
    last_result_at timestamptz
  );

  -- Every result message, as received (payload) plus the columns the page filters on.
  CREATE TABLE results (
    id              uuid PRIMARY KEY,
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    device_id       text NOT NULL,
    processed_at    timestamptz NOT NULL,
    outcome         text NOT NULL,
    level           text NOT NULL,
    label           text,
    model_id        text,
    model_sha256    text,
    payload         jsonb NOT NULL,
    ingested_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    acknowledged_by text,
    acknowledged_at timestamptz
  );
  -- latest per device, and a device's results by time
  CREATE INDEX results_by_device ON results (device_id, processed_at DESC);
  CREATE INDEX results_by_time ON results (processed_at DESC);
  -- "RED in the last 24 h"
  CREATE INDEX results_red_by_time ON results (processed_at DESC) WHERE level = 'RED';

  CREATE TABLE events (
    id          uuid PRIMARY KEY,
    device_id   text NOT NULL,
    at          timestamptz NOT NULL,
    severity    text NOT NULL,
    code        text NOT NULL,
    message     text NOT NULL,
    payload     jsonb NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  CREATE INDEX events_by_device ON events (device_id, at DESC);

  CREATE TABLE health (
    id        uuid PRIMARY KEY,
    device_id text NOT NULL,
    at        timestamptz NOT NULL,
    payload   jsonb NOT NULL
  );
  CREATE INDEX health_by_device ON health (device_id, at DESC);

  -- Messages that could not be stored (not JSON, wrong schema, unknown topic): kept with the
  -- reason so that nothing a device sent disappears without trace.
  CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text NOT NULL,
    device_id   text,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  CREATE INDEX dead_letters_by_time ON dead_letters (received_at);

  CREATE TABLE users (
    name          text PRIMARY KEY,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('viewer', 'clinician', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
  );

  -- Only a hash of the session token is stored: a copy of the database opens no session.
  CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    user_name  text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
  );
  CREATE INDEX sessions_by_expiry ON sessions (expires_at);
  `,
];

/** Any fixed number: the advisory lock that lets only one dashboard process migrate at a time. */
const MIGRATION_LOCK = 7_301_515;

/**
 * Brings the database to the newest schema in one transaction per version. Several dashboard
 * processes may start at once: an advisory lock makes the others wait, then find nothing to do.
 * A database newer than this code is refused rather than misread.
 */
export async function migrate(client: pg.ClientBase): Promise<{ from: number; to: number }> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
    const from = rows[0]?.version ?? 0;
    if (from > MIGRATIONS.length) {
      throw new CspineError(
        ErrorCode.DASHBOARD_DATABASE_NEWER_SCHEMA,
        `the dashboard database is at schema version ${from}, newer than this version of cspine-edge knows (${MIGRATIONS.length}); upgrade cspine-edge`,
      );
    }
    for (let version = from + 1; version <= MIGRATIONS.length; version++) {
      await client.query('BEGIN');
      try {
        await client.query(MIGRATIONS[version - 1]!);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
    return { from, to: MIGRATIONS.length };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}
