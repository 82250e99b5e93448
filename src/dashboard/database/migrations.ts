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
  `
  -- Fleet model updates (docs/model-updates.md). A package as "dashboard package add" stored it
  -- in <dashboard.updates.dir>/<manifest_sha256>/: the files it holds, each with its hash.
  CREATE TABLE model_packages (
    manifest_sha256 text PRIMARY KEY CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
    model_id        text NOT NULL,
    manifest        jsonb NOT NULL,
    key_id          text NOT NULL,
    -- [{name, sha256, bytes}]: the manifest's files that the package carries
    files           jsonb NOT NULL,
    total_bytes     bigint NOT NULL,
    added_at        timestamptz NOT NULL DEFAULT now(),
    added_by        text NOT NULL
  );

  CREATE TABLE rollouts (
    id             uuid PRIMARY KEY,
    package_sha256 text NOT NULL REFERENCES model_packages (manifest_sha256),
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL,
    -- for people: "group north (5 devices)", "all 12 devices", ...
    target         text NOT NULL,
    auto_advance   boolean NOT NULL,
    state          text NOT NULL CHECK (state IN ('canary', 'rolling', 'complete', 'halted', 'rolled-back')),
    -- why it halted or was rolled back
    reason         text,
    updated_at     timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX rollouts_by_time ON rollouts (created_at DESC);
  CREATE INDEX rollouts_in_progress ON rollouts (id) WHERE state IN ('canary', 'rolling');

  CREATE TABLE rollout_devices (
    rollout_id          uuid NOT NULL REFERENCES rollouts (id),
    device_id           text NOT NULL,
    stage               text NOT NULL CHECK (stage IN ('canary', 'main')),
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'sent', 'downloading', 'testing', 'active', 'confirmed', 'failed', 'rolled-back')),
    -- The install command; a new id (and token) each time it is issued again after a lost publish.
    command_id          uuid NOT NULL UNIQUE,
    -- Only the SHA-256 of the download token: a copy of the database downloads nothing.
    token_sha256        text UNIQUE,
    -- The dashboard process publishing this device's command now, and since when (a lease:
    -- another process takes over when it is not renewed).
    issued_by           text,
    issued_at           timestamptz,
    -- the broker acknowledged the install (PUBACK)
    sent_at             timestamptz,
    rollback_command_id uuid UNIQUE,
    rollback_sent_at    timestamptz,
    -- from the newest report (by its own time)
    bytes_done          bigint,
    bytes_total         bigint,
    code                text,
    message             text,
    reported_at         timestamptz,
    PRIMARY KEY (rollout_id, device_id)
  );
  -- which device runs what: a device's rollouts, newest report first
  CREATE INDEX rollout_devices_by_device ON rollout_devices (device_id, reported_at DESC);
  -- what the dispatcher has still to send
  CREATE INDEX rollout_devices_pending ON rollout_devices (rollout_id) WHERE state = 'pending';

  -- Every cspine.update.v1 report as received, keyed by its id: a report delivered twice is stored once.
  CREATE TABLE update_reports (
    id          uuid PRIMARY KEY,
    device_id   text NOT NULL,
    rollout_id  uuid NOT NULL,
    command_id  uuid NOT NULL,
    at          timestamptz NOT NULL,
    state       text NOT NULL,
    payload     jsonb NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  CREATE INDEX update_reports_by_rollout ON update_reports (rollout_id, device_id, at DESC);
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
