import { ErrorCode, StoreError } from '../errors.js';
import type { QualityMeasures } from '../imaging/quality.js';
import type { OodVerdict, OrientationCorrection } from '../model/ood-verdict.js';
import { rejectionTriage, type AppliedThresholds, type Triage } from '../triage/policy.js';
import type { Db } from './database.js';
import type { Outbox } from './outbox.js';

export interface ImageFacts {
  sha256: string;
  /** File name as it arrived (no directories). */
  source: string;
  /** camera: a still the camera source took from the X-ray unit's screen. */
  sourceKind: 'folder' | 'camera';
  bytes: number;
  format?: string | undefined;
  width?: number | undefined;
  height?: number | undefined;
  bitsPerSample?: number | undefined;
  receivedAt: Date;
  /** DICOM input only: pseudonyms and non-identifying attributes, never the UIDs themselves. */
  dicom?: DicomRecord | undefined;
}

/** A DICOM image as history keeps it (and MQTT sends it): nothing that names the patient. */
export interface DicomRecord {
  /** `study-<hmac>` of the Study Instance UID with the site secret (src/privacy/pseudonymizer.ts). */
  studyRef: string | null;
  /** `sop-<hmac>` of the SOP Instance UID (the same pseudonym the C-STORE receiver names its files by). */
  instanceRef: string | null;
  modality: string | null;
  bodyPart: string | null;
  viewPosition: string | null;
  acquiredAt: string | null;
}

export interface ClassificationFacts {
  modelId: string;
  modelSha256: string;
  /** The thresholds it was read with and the validation they came from; absent in records from before. */
  thresholds?: AppliedThresholds | undefined;
  label: string;
  probabilities: Record<string, number>;
  triage: Triage;
  timingsMs: Record<string, number>;
  /** The quality gate's measures (it passed); absent when the gate was off. */
  quality?: QualityMeasures | undefined;
  /** The OOD detector's verdict; absent for a package without OOD statistics. */
  ood?: OodVerdict | undefined;
  orientation?: OrientationCorrection | undefined;
}

export interface RejectionFacts {
  code: string;
  message: string;
}

export type Outcome =
  | { kind: 'classified'; label: string; triage: Triage }
  | { kind: 'rejected'; code: string; message: string; triage: Triage };

export interface HistoryEntry {
  id: number;
  sha256: string;
  source: string;
  sourceKind: ImageFacts['sourceKind'];
  bytes: number;
  format: string | null;
  receivedAt: string;
  processedAt: string;
  outcome: 'classified' | 'rejected';
  triage: Triage;
  label: string | null;
  probabilities: Record<string, number> | null;
  model: { id: string; sha256: string; thresholds?: AppliedThresholds } | null;
  timingsMs: Record<string, number> | null;
  error: RejectionFacts | null;
  /** When the acknowledge button was pressed for this image's lamp. */
  acknowledgedAt: string | null;
  /** MQTT delivery of this record; null when sync was off when it was recorded. */
  delivery: { messageId: string; deliveredAt: string | null } | null;
  /** DICOM input: pseudonymised study/instance and non-identifying attributes; null otherwise. */
  dicom: DicomRecord | null;
  /** Classified images: the quality gate's measures; null when rejected or the gate was off. */
  quality: QualityMeasures | null;
  /** Classified images: the OOD detector's verdict; null when rejected or the package was unguarded. */
  ood: OodVerdict | null;
  /** Set when the image was classified turned or inverted (docs/safety.md). */
  orientation: OrientationCorrection | null;
}

interface EntryRow {
  id: number;
  sha256: string;
  source: string;
  source_kind: ImageFacts['sourceKind'];
  bytes: number;
  format: string | null;
  received_at: string;
  processed_at: string;
  outcome: 'classified' | 'rejected';
  acknowledged_at: string | null;
  model_id: string | null;
  model_sha256: string | null;
  label: string | null;
  probabilities: string | null;
  triage_level: Triage['level'] | null;
  triage_reason: string | null;
  timings_ms: string | null;
  quality: string | null;
  ood: string | null;
  orientation: string | null;
  thresholds: string | null;
  code: string | null;
  message: string | null;
  message_id: string | null;
  delivered_at: string | null;
  study_ref: string | null;
  instance_ref: string | null;
  modality: string | null;
  body_part: string | null;
  view_position: string | null;
  acquired_at: string | null;
}

const ENTRY_SELECT = `
  SELECT i.id, i.sha256, i.source, i.source_kind, i.bytes, i.format, i.received_at, i.processed_at, i.outcome, i.acknowledged_at,
         i.study_ref, i.instance_ref, i.modality, i.body_part, i.view_position, i.acquired_at,
         r.model_id, r.model_sha256, r.label, r.probabilities, r.triage_level, r.triage_reason, r.timings_ms, r.quality, r.ood, r.orientation, r.thresholds,
         j.code, j.message, o.message_id, o.delivered_at
  FROM images i
  LEFT JOIN results r ON r.image_id = i.id
  LEFT JOIN rejections j ON j.image_id = i.id
  LEFT JOIN outbox o ON o.image_id = i.id`;

/**
 * Every image ends here exactly once, as classified or rejected, keyed by content hash.
 * Each record is one transaction, so a crash leaves either the whole record or nothing.
 */
export class History {
  private readonly insertImage;
  private readonly insertResult;
  private readonly insertRejection;
  private readonly selectBySha;
  private readonly selectById;
  private readonly selectRecent;
  private readonly selectLastProcessed;
  private readonly deleteOld;
  private readonly updateAcknowledged;

  /** With an outbox, every record also queues its MQTT message in the same transaction. */
  constructor(
    private readonly db: Db,
    private readonly outbox?: Outbox,
  ) {
    this.insertImage = db.prepare(`
      INSERT INTO images (sha256, source, source_kind, bytes, format, width, height, bits_per_sample, received_at, processed_at, outcome,
                          study_ref, instance_ref, modality, body_part, view_position, acquired_at)
      VALUES (@sha256, @source, @sourceKind, @bytes, @format, @width, @height, @bitsPerSample, @receivedAt, @processedAt, @outcome,
              @studyRef, @instanceRef, @modality, @bodyPart, @viewPosition, @acquiredAt)`);
    this.insertResult = db.prepare(`
      INSERT INTO results (image_id, model_id, model_sha256, label, probabilities, triage_level, triage_reason, timings_ms, quality, ood, orientation, thresholds)
      VALUES (@imageId, @modelId, @modelSha256, @label, @probabilities, @triageLevel, @triageReason, @timingsMs, @quality, @ood, @orientation, @thresholds)`);
    this.insertRejection = db.prepare(`INSERT INTO rejections (image_id, code, message) VALUES (@imageId, @code, @message)`);
    this.selectBySha = db.prepare(`${ENTRY_SELECT} WHERE i.sha256 = ?`);
    this.selectById = db.prepare(`${ENTRY_SELECT} WHERE i.id = ?`);
    this.selectRecent = db.prepare(`${ENTRY_SELECT} ORDER BY i.id DESC LIMIT ?`);
    this.selectLastProcessed = db.prepare(`SELECT max(processed_at) AS at FROM images`);
    this.updateAcknowledged = db.prepare(`UPDATE images SET acknowledged_at = ? WHERE sha256 = ? AND acknowledged_at IS NULL`);
    this.deleteOld = db.prepare(`
      DELETE FROM images
      WHERE processed_at < ?
        AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.image_id = images.id AND o.delivered_at IS NULL)`);
  }

  /** The recorded outcome for this content, if any: the key to idempotent reprocessing. */
  outcomeOf(sha256: string): Outcome | undefined {
    const entry = this.entryBySha(sha256);
    if (!entry) return undefined;
    return entry.outcome === 'classified'
      ? { kind: 'classified', label: entry.label!, triage: entry.triage }
      : { kind: 'rejected', code: entry.error!.code, message: entry.error!.message, triage: entry.triage };
  }

  entryBySha(sha256: string): HistoryEntry | undefined {
    const row = this.guard(() => this.selectBySha.get(sha256) as EntryRow | undefined);
    return row && toEntry(row);
  }

  entryById(id: number): HistoryEntry | undefined {
    const row = this.guard(() => this.selectById.get(id) as EntryRow | undefined);
    return row && toEntry(row);
  }

  recent(limit: number): HistoryEntry[] {
    return this.guard(() => (this.selectRecent.all(limit) as EntryRow[]).map(toEntry));
  }

  /** Records the first press of the acknowledge button for this image; later presses change nothing. */
  acknowledge(sha256: string, at = new Date()): boolean {
    return this.guard(() => this.updateAcknowledged.run(at.toISOString(), sha256).changes === 1);
  }

  lastProcessedAt(): string | null {
    return this.guard(() => (this.selectLastProcessed.get() as { at: string | null }).at);
  }

  /**
   * Deletes records processed before `olderThan`, except those whose MQTT message is still
   * undelivered (those are never removed). Returns how many were deleted.
   */
  pruneBefore(olderThan: Date): number {
    return this.guard(() => this.deleteOld.run(olderThan.toISOString()).changes);
  }

  recordClassified(image: ImageFacts, result: ClassificationFacts, processedAt = new Date()): number {
    return this.record(image, 'classified', processedAt, (imageId) =>
      this.insertResult.run({
        imageId,
        modelId: result.modelId,
        modelSha256: result.modelSha256,
        label: result.label,
        probabilities: JSON.stringify(result.probabilities),
        triageLevel: result.triage.level,
        triageReason: result.triage.reason,
        timingsMs: JSON.stringify(result.timingsMs),
        quality: json(result.quality),
        ood: json(result.ood),
        orientation: json(result.orientation),
        thresholds: json(result.thresholds),
      }),
    );
  }

  recordRejected(image: ImageFacts, rejection: RejectionFacts, processedAt = new Date()): number {
    return this.record(image, 'rejected', processedAt, (imageId) => this.insertRejection.run({ imageId, ...rejection }));
  }

  private record(image: ImageFacts, outcome: 'classified' | 'rejected', processedAt: Date, insertDetail: (imageId: number) => unknown): number {
    return this.guard(() =>
      this.db.transaction(() => {
        const existing = this.selectBySha.get(image.sha256) as EntryRow | undefined;
        if (existing) return existing.id;
        const { lastInsertRowid } = this.insertImage.run({
          sha256: image.sha256,
          source: image.source,
          sourceKind: image.sourceKind,
          bytes: image.bytes,
          format: image.format ?? null,
          width: image.width ?? null,
          height: image.height ?? null,
          bitsPerSample: image.bitsPerSample ?? null,
          receivedAt: image.receivedAt.toISOString(),
          processedAt: processedAt.toISOString(),
          outcome,
          studyRef: image.dicom?.studyRef ?? null,
          instanceRef: image.dicom?.instanceRef ?? null,
          modality: image.dicom?.modality ?? null,
          bodyPart: image.dicom?.bodyPart ?? null,
          viewPosition: image.dicom?.viewPosition ?? null,
          acquiredAt: image.dicom?.acquiredAt ?? null,
        });
        const imageId = Number(lastInsertRowid);
        insertDetail(imageId);
        this.outbox?.addResult(imageId, processedAt);
        return imageId;
      }).immediate(),
    );
  }

  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw new StoreError(ErrorCode.STORE_FAILED, `history database error: ${(error as Error).message}`, { cause: error });
    }
  }
}

const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));
const parse = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

function toEntry(row: EntryRow): HistoryEntry {
  const classified = row.outcome === 'classified';
  return {
    id: row.id,
    sha256: row.sha256,
    source: row.source,
    sourceKind: row.source_kind,
    bytes: row.bytes,
    format: row.format,
    receivedAt: row.received_at,
    processedAt: row.processed_at,
    outcome: row.outcome,
    triage: classified ? { level: row.triage_level!, reason: row.triage_reason! } : rejectionTriage(row.code!),
    label: row.label,
    probabilities: row.probabilities === null ? null : (JSON.parse(row.probabilities) as Record<string, number>),
    model: classified ? { id: row.model_id!, sha256: row.model_sha256!, ...(row.thresholds === null ? {} : { thresholds: JSON.parse(row.thresholds) as AppliedThresholds }) } : null,
    timingsMs: row.timings_ms === null ? null : (JSON.parse(row.timings_ms) as Record<string, number>),
    error: classified ? null : { code: row.code!, message: row.message! },
    acknowledgedAt: row.acknowledged_at,
    delivery: row.message_id === null ? null : { messageId: row.message_id, deliveredAt: row.delivered_at },
    dicom:
      row.study_ref === null && row.instance_ref === null && row.modality === null
        ? null
        : {
            studyRef: row.study_ref,
            instanceRef: row.instance_ref,
            modality: row.modality,
            bodyPart: row.body_part,
            viewPosition: row.view_position,
            acquiredAt: row.acquired_at,
          },
    quality: parse<QualityMeasures>(row.quality),
    ood: parse<OodVerdict>(row.ood),
    orientation: parse<OrientationCorrection>(row.orientation),
  };
}
