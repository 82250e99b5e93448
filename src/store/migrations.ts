/**
 * Schema history; `PRAGMA user_version` holds how many have been applied. Append only:
 * a device in the field may be several versions behind.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE images (
    id              INTEGER PRIMARY KEY,
    sha256          TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL,
    source_kind     TEXT NOT NULL,
    bytes           INTEGER NOT NULL,
    format          TEXT,
    width           INTEGER,
    height          INTEGER,
    bits_per_sample INTEGER,
    received_at     TEXT NOT NULL,
    processed_at    TEXT NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('classified', 'rejected'))
  );

  CREATE TABLE results (
    image_id      INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    model_id      TEXT NOT NULL,
    model_sha256  TEXT NOT NULL,
    label         TEXT NOT NULL,
    probabilities TEXT NOT NULL,
    triage_level  TEXT NOT NULL CHECK (triage_level IN ('GREEN', 'AMBER', 'RED')),
    triage_reason TEXT NOT NULL,
    timings_ms    TEXT NOT NULL
  );

  CREATE TABLE rejections (
    image_id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    code     TEXT NOT NULL,
    message  TEXT NOT NULL
  );
  `,
  `
  -- Store-and-forward queue for MQTT. A result's row is written in the same transaction as the
  -- result and holds no copy of it (the payload is built from history when sent), which keeps
  -- the bytes written per result small on SD cards. Events carry their own payload.
  CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    message_id   TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('result', 'event')),
    image_id     INTEGER REFERENCES images (id) ON DELETE CASCADE,
    payload      TEXT,
    created_at   TEXT NOT NULL,
    delivered_at TEXT,
    CHECK ((kind = 'result') = (image_id IS NOT NULL))
  );
  CREATE INDEX outbox_undelivered ON outbox (id) WHERE delivered_at IS NULL;
  CREATE INDEX outbox_by_image ON outbox (image_id);

  -- The self-test's expected probabilities for one reference image, per model file.
  CREATE TABLE self_test_baselines (
    model_sha256  TEXT PRIMARY KEY,
    probabilities TEXT NOT NULL,
    created_at    TEXT NOT NULL
  );
  `,
  `
  -- When a crew member pressed the acknowledge button for this image's lamp.
  ALTER TABLE images ADD COLUMN acknowledged_at TEXT;
  `,
  `
  -- DICOM input: the study and instance as site-keyed pseudonyms (never the UIDs), and the
  -- header's non-identifying attributes. NULL for raster images.
  ALTER TABLE images ADD COLUMN study_ref TEXT;
  ALTER TABLE images ADD COLUMN instance_ref TEXT;
  ALTER TABLE images ADD COLUMN modality TEXT;
  ALTER TABLE images ADD COLUMN body_part TEXT;
  ALTER TABLE images ADD COLUMN view_position TEXT;
  ALTER TABLE images ADD COLUMN acquired_at TEXT;
  `,
  `
  -- What the quality gate measured and what the OOD detector said (JSON), and the orientation
  -- the image was read in when it was corrected; NULL when the gate was off, the model package
  -- had no OOD statistics, or the image was read as it arrived.
  ALTER TABLE results ADD COLUMN quality TEXT;
  ALTER TABLE results ADD COLUMN ood TEXT;
  ALTER TABLE results ADD COLUMN orientation TEXT;
  `,
  `
  -- Model update reports (cspine.update.v1) travel through the outbox like events, carrying
  -- their payload. SQLite cannot change a CHECK constraint in place, so the table is rebuilt.
  CREATE TABLE outbox_next (
    id           INTEGER PRIMARY KEY,
    message_id   TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('result', 'event', 'update')),
    image_id     INTEGER REFERENCES images (id) ON DELETE CASCADE,
    payload      TEXT,
    created_at   TEXT NOT NULL,
    delivered_at TEXT,
    CHECK ((kind = 'result') = (image_id IS NOT NULL))
  );
  INSERT INTO outbox_next (id, message_id, kind, image_id, payload, created_at, delivered_at)
    SELECT id, message_id, kind, image_id, payload, created_at, delivered_at FROM outbox;
  DROP TABLE outbox;
  ALTER TABLE outbox_next RENAME TO outbox;
  CREATE INDEX outbox_undelivered ON outbox (id) WHERE delivered_at IS NULL;
  CREATE INDEX outbox_by_image ON outbox (image_id);

  -- Model commands this device has taken up (the command is retained and comes again at every
  -- connect): 'received' resumes after a restart, 'testing' left behind means the service ended
  -- while testing that package, 'done' is never acted on again. issued_ms (the command's
  -- issuedAt) lets an older command delivered late be told from a newer one.
  CREATE TABLE model_commands (
    id         TEXT PRIMARY KEY,
    issued_ms  INTEGER,
    phase      TEXT NOT NULL CHECK (phase IN ('received', 'testing', 'done')),
    updated_at TEXT NOT NULL
  );
  `,
  `
  -- The dashboard's receipt (cspine.receipt.v1): when it said the message is stored. A message
  -- the broker acknowledged but the dashboard never confirmed, while it confirmed later ones, is
  -- sent again. Rows delivered before receipts existed count as stored, as they did then.
  ALTER TABLE outbox ADD COLUMN stored_at TEXT;
  UPDATE outbox SET stored_at = delivered_at WHERE delivered_at IS NOT NULL;
  CREATE INDEX outbox_unconfirmed ON outbox (delivered_at) WHERE stored_at IS NULL AND delivered_at IS NOT NULL;
  CREATE INDEX outbox_by_message ON outbox (message_id);
  `,
  `
  -- The thresholds each result was read with, and the validation report they came from (JSON).
  ALTER TABLE results ADD COLUMN thresholds TEXT;
  `,
];
