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
  CREATE INDEX images_by_processed_at ON images (processed_at);

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
];
