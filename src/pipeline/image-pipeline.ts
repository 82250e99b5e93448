import fs from 'node:fs';
import path from 'node:path';
import type { ClaimedFile, IntakeSink } from '../capture/capture-folder.js';
import { disposeClassified, quarantineRejected, readCapturedFile, unchangedSinceRead, type DisposeOptions, type FileVersion, type IntakeRead } from '../capture/intake.js';
import type { Config } from '../config/schema.js';
import { StoreError, toCspineError, type CspineError } from '../errors.js';
import { rejectedDicomFacts } from '../imaging/dicom/decoder.js';
import { heatmapOverlay } from '../imaging/heatmap.js';
import type { DicomFacts } from '../imaging/image.js';
import type { Logger } from '../logger.js';
import type { Pseudonyms } from '../privacy/pseudonymizer.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';
import type { EventBus } from '../runtime/event-bus.js';
import type { DicomRecord, ImageFacts, Outcome } from '../store/history.js';
import type { HistoryStore } from '../store/store.js';
import { rejectionTriage } from '../triage/policy.js';
import type { Classification, Classifier } from './classifier.js';
import type { ModelSlot } from './model-slot.js';

export interface ImagePipelineDeps {
  config: Config;
  store: HistoryStore;
  model: ModelSlot;
  pseudonymizer: Pseudonyms;
  bus: EventBus;
  logger: Logger;
}

/** A claimed file that is still being written goes back to waiting; nothing is recorded. */
const STILL_WRITING = Symbol('still being written');
/**
 * A file written this recently that cannot be read as an image gets one more look once it has
 * been steady a while: a writer that pauses mid-copy longer than `capture.stableWindowMs`
 * (a slow USB stick, a network share) would otherwise have a good radiograph quarantined.
 */
const YOUNG_FILE_MS = 10_000;

/**
 * One image at a time: intake (read, hash, dedupe) → classify → record (history row and outbox
 * row in one transaction) → dispose (move or quarantine). The file leaves the capture folder
 * only after its outcome is committed, so a crash at any point redoes it after restart.
 */
export class ImagePipeline implements Capability, IntakeSink {
  readonly name = 'image pipeline';
  private readonly queue: ClaimedFile[] = [];
  private draining: Promise<void> | undefined;
  private stopping = true;
  private readonly captureDir: string;
  private readonly dispose: DisposeOptions;
  /** Files given their one more look, by name, with the version that failed. */
  private readonly lookedAgain = new Map<string, FileVersion>();

  constructor(private readonly deps: ImagePipelineDeps) {
    const { capture } = deps.config;
    this.captureDir = path.resolve(capture.dir);
    this.dispose = { afterCommit: capture.afterCommit, processedDir: path.resolve(capture.processedDir), rejectedDir: path.resolve(capture.rejectedDir) };
  }

  async start(): Promise<void> {
    this.stopping = false;
  }

  /** Finishes the image in flight; queued files stay in the folder for the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.draining;
    for (const file of this.queue.splice(0)) file.release();
  }

  health(): CapabilityHealth {
    return { status: 'ok', detail: `${this.queue.length} queued${this.draining ? ', one in flight' : ''}` };
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  offer(file: ClaimedFile): void {
    const { maxQueue } = this.deps.config.capture;
    if (this.stopping || this.queue.length >= maxQueue) {
      // Left in the folder, so nothing is lost: the next scan offers it again.
      if (!this.stopping) this.deps.logger.warn({ file: file.name, queued: this.queue.length }, 'inference queue full; file waits for the next scan');
      file.release();
      return;
    }
    this.queue.push(file);
    this.deps.logger.debug({ file: file.name, queued: this.queue.length }, 'queued');
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  private async drain(): Promise<void> {
    for (let file = this.queue.shift(); file !== undefined && !this.stopping; file = this.queue.shift()) {
      let settled: 'release' | 'recheck' = 'release';
      try {
        if ((await this.process(file)) === STILL_WRITING) settled = 'recheck';
      } catch (error) {
        // The file stays in capture/; it is offered again by the next scan.
        this.fault(toCspineError(error));
      } finally {
        if (settled === 'recheck') file.recheck();
        else file.release();
      }
    }
  }

  private fault(problem: CspineError): void {
    this.deps.bus.emit('faultRaised', { kind: 'image-pipeline', code: problem.code, message: problem.message });
  }

  private async process(file: ClaimedFile): Promise<typeof STILL_WRITING | undefined> {
    const { history } = this.deps.store;
    let read: IntakeRead;
    try {
      read = await readCapturedFile(this.captureDir, file.name, this.deps.config.capture.maxFileBytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // taken away before we got to it
      throw error;
    }
    const earlier = history.outcomeOf(read.sha256);
    if (earlier) {
      this.deps.logger.info({ file: file.name, sha256: read.sha256, outcome: earlier.kind }, 'content already recorded; finishing its disposal');
      await this.disposeOf(file, read.sha256, earlier);
      this.committed(file, read.sha256, 'already-recorded', earlier);
      return undefined;
    }

    const facts: ImageFacts = { sha256: read.sha256, source: file.name, sourceKind: 'folder', bytes: read.size, receivedAt: file.readyAt };
    let outcome: Outcome | typeof STILL_WRITING | undefined;
    if (read.kind === 'refused') {
      outcome = await this.rejectUnlessWriting(file, read, facts, read.error);
    } else {
      const bytes = read.bytes;
      // Undefined: the model was taken out of service before this image got to it; it waits.
      outcome = await this.deps.model.use((classifier) => this.classify(file, read, bytes, facts, classifier));
    }
    if (outcome === undefined) return undefined;
    if (outcome === STILL_WRITING) return STILL_WRITING;
    this.lookedAgain.delete(file.name);
    await this.disposeOf(file, read.sha256, outcome);
    this.committed(file, read.sha256, outcome.kind, outcome);
    return undefined;
  }

  private async classify(file: ClaimedFile, read: IntakeRead, bytes: Buffer, facts: ImageFacts, classifier: Classifier): Promise<Outcome | typeof STILL_WRITING> {
    this.deps.bus.emit('imageStarted', { file: file.name });
    let result: Classification;
    try {
      result = await classifier.classify(bytes);
    } catch (error) {
      return this.rejectUnlessWriting(file, read, facts, toCspineError(error));
    }
    if (!(await unchangedSinceRead(file.path, read))) return this.stillWriting(file, 'it changed while it was read');
    Object.assign(facts, result.image);
    facts.dicom = this.dicomRecord(result.decoded.dicom);
    this.deps.store.history.recordClassified(facts, {
      modelId: result.model.id,
      modelSha256: result.model.sha256,
      label: result.label,
      probabilities: result.probabilities,
      triage: result.triage,
      timingsMs: result.timingsMs,
      quality: result.quality?.measures,
      ood: result.ood,
      orientation: result.orientation,
    });
    await this.writeHeatmap(read.sha256, result, classifier);
    this.deps.logger.info(
      {
        file: file.name,
        sha256: read.sha256,
        label: result.label,
        probabilities: result.probabilities,
        triage: result.triage,
        timingsMs: result.timingsMs,
        ...(result.ood ? { ood: result.ood } : {}),
        ...(result.orientation ? { orientation: result.orientation } : {}),
        ...(facts.dicom ? { dicom: facts.dicom } : {}),
      },
      'classified',
    );
    return { kind: 'classified', label: result.label, triage: result.triage };
  }

  private committed(file: ClaimedFile, sha256: string, kind: 'classified' | 'rejected' | 'already-recorded', outcome: Outcome): void {
    this.deps.bus.emit('resultCommitted', {
      file: file.name,
      sha256,
      kind,
      triage: outcome.triage,
      ...(outcome.kind === 'classified' ? { label: outcome.label } : {}),
      readyAt: file.readyAt,
      committedAt: new Date(),
    });
  }

  /** An artifact beside the history row (data/heatmaps/<sha256>.png); failing to draw it loses no result. */
  private async writeHeatmap(sha256: string, result: Classification, classifier: Classifier): Promise<void> {
    const dir = this.deps.config.imaging.heatmapDir;
    if (!result.cam || dir === '') return;
    try {
      await fs.promises.mkdir(dir, { recursive: true });
      const png = await heatmapOverlay(result.decoded, result.cam, classifier.engine.model.manifest);
      await fs.promises.writeFile(path.join(dir, `${sha256}.png`), png);
    } catch (error) {
      this.deps.logger.warn({ sha256, err: (error as Error).message }, 'could not write the heatmap overlay');
    }
  }

  /** History's view of a DICOM header: pseudonyms for the UIDs, the rest as the decoder sanitised it. */
  private dicomRecord(dicom: DicomFacts | undefined): DicomRecord | undefined {
    if (!dicom) return undefined;
    const { pseudonymizer } = this.deps;
    const { studyInstanceUid, sopInstanceUid } = dicom.identifiers;
    return {
      studyRef: studyInstanceUid === null ? null : pseudonymizer.ref('study', studyInstanceUid),
      instanceRef: sopInstanceUid === null ? null : pseudonymizer.ref('sop', sopInstanceUid),
      modality: dicom.attributes.modality,
      bodyPart: dicom.attributes.bodyPartExamined,
      viewPosition: dicom.attributes.viewPosition,
      acquiredAt: dicom.attributes.acquisitionDateTime,
    };
  }

  /**
   * A file that changed since it was read, or that was written moments ago and fails for the
   * first time, goes back to waiting instead of to rejected/.
   */
  private async rejectUnlessWriting(file: ClaimedFile, read: IntakeRead, facts: ImageFacts, error: CspineError): Promise<Outcome | typeof STILL_WRITING> {
    if (!(await unchangedSinceRead(file.path, read))) return this.stillWriting(file, 'it changed while it was read');
    const failedBefore = this.lookedAgain.get(file.name);
    const sameVersion = failedBefore?.size === read.version.size && failedBefore.mtimeMs === read.version.mtimeMs;
    if (!sameVersion && Date.now() - read.version.mtimeMs < YOUNG_FILE_MS) {
      this.lookedAgain.set(file.name, read.version);
      return this.stillWriting(file, `${error.code} on a file written moments ago`);
    }
    return this.reject(facts, error);
  }

  private stillWriting(file: ClaimedFile, why: string): typeof STILL_WRITING {
    this.deps.logger.info({ file: file.name }, `${why}: perhaps still being copied in; looking again once it is steady`);
    return STILL_WRITING;
  }

  private reject(facts: ImageFacts, error: CspineError): Outcome {
    if (error instanceof StoreError) throw error;
    facts.dicom ??= this.dicomRecord(rejectedDicomFacts(error));
    this.deps.store.history.recordRejected(facts, { code: error.code, message: error.message });
    this.deps.logger.warn({ file: facts.source, sha256: facts.sha256, code: error.code }, `rejected: ${error.message}`);
    return { kind: 'rejected', code: error.code, message: error.message, triage: rejectionTriage(error.code) };
  }

  private async disposeOf(file: ClaimedFile, sha256: string, outcome: Outcome): Promise<void> {
    if (outcome.kind === 'classified') {
      await disposeClassified(file.path, this.dispose, new Date());
    } else {
      await quarantineRejected(file.path, { file: file.name, sha256, code: outcome.code, message: outcome.message, rejectedAt: new Date().toISOString() }, this.dispose);
    }
  }
}
