import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isCameraStill } from '../capture/camera/still-name.js';
import { CHANGED, FileHasher } from '../capture/file-hasher.js';
import type { ClaimedFile, IntakeSink } from '../capture/capture-folder.js';
import { disposeClassified, quarantineRejected, readCapturedFile, sameVersion, unchangedSinceRead, type DisposeOptions, type FileVersion, type IntakeRead } from '../capture/intake.js';
import type { Config } from '../config/schema.js';
import { StoreError, toCspineError, type CspineError } from '../errors.js';
import { rejectedDicomFacts } from '../imaging/dicom/decoder.js';
import { HEATMAP_EXTENSION, heatmapOverlay } from '../imaging/heatmap.js';
import type { DecodedImage, DicomFacts } from '../imaging/image.js';
import type { Logger } from '../logger.js';
import type { Pseudonyms } from '../privacy/pseudonymizer.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';
import type { EventBus } from '../runtime/event-bus.js';
import type { CommitEvent } from '../runtime/events.js';
import type { DicomRecord, ImageFacts, Outcome } from '../store/history.js';
import type { HistoryStore } from '../store/store.js';
import { rejectionTriage } from '../triage/policy.js';
import { AfterworkQueue } from './afterwork.js';
import { LOOK_BACK_ROWS, OverlayDebt, type OwedOverlay } from './overlay-debt.js';
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
/** Results whose overlay and disposal may wait behind the lamp before intake pauses for them. */
const AFTERWORK_LIMIT = 8;

/**
 * Overlays wait until no image has arrived for this long: images arriving one after another
 * each get their lamp without an overlay drawn in between (drawing one costs about as much CPU
 * as classifying one).
 */
const OVERLAY_QUIET_MS = 250;
/** The newest overlays kept in memory until drawn; older ones are owed and drawn from the kept file. */
const OVERLAYS_HELD = 2;

/** What the pipeline does with a claimed file once it is done with it for now. */
type Settled = 'release' | 'recheck' | 'handed-off';

/** The overlay to draw after the lamp, with what it needs (not the whole classification). */
type Overlay = { decoded: Classification['decoded']; cam: NonNullable<Classification['cam']>; manifest: Classifier['engine']['model']['manifest'] } | undefined;

/** An image decoded ahead for the model then in service, or why it could not be. */
type Decoded = { classifier: Classifier; image: DecodedImage; decodeMs: number } | { classifier: Classifier; error: CspineError };

/** A claimed file read, hashed and (unless refused) decoded, the hash and the decode side by side. */
interface Prepared {
  read: IntakeRead;
  sha256: string;
  /** Undefined: refused before decoding, or no model in service when it was read. */
  decoded: Decoded | undefined;
}
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
  private readonly afterwork: AfterworkQueue;
  private readonly hasher = new FileHasher();
  private readonly debt: OverlayDebt;
  /** Overlays drawn from memory when quiet, by image hash, oldest first. */
  private readonly held = new Map<string, NonNullable<Overlay>>();
  /** An overlay is being drawn (one at a time, only once quiet). */
  private drawingOverlay = false;
  private quietTimer: NodeJS.Timeout | undefined;
  private lastArrival = 0;

  constructor(private readonly deps: ImagePipelineDeps) {
    this.afterwork = new AfterworkQueue(AFTERWORK_LIMIT, deps.logger);
    this.debt = new OverlayDebt((sha256) => this.overlayFile(sha256), path.resolve(deps.config.capture.processedDir));
    const { capture } = deps.config;
    this.captureDir = path.resolve(capture.dir);
    this.dispose = { afterCommit: capture.afterCommit, processedDir: path.resolve(capture.processedDir), rejectedDir: path.resolve(capture.rejectedDir) };
  }

  async start(): Promise<void> {
    this.stopping = false;
    // Overlays a crash or power cut kept from being drawn, for the model in service.
    const model = this.deps.model.model;
    if (model?.cam && this.overlaysKept) {
      this.debt.oweMissing(this.deps.store.history.recent(LOOK_BACK_ROWS), model.sha256);
      this.drawOverlaysWhenQuiet();
    }
  }

  /** data/heatmaps/<sha256>.jpg (or .png, .webp, per imaging.heatmapFormat). */
  private overlayFile(sha256: string): string {
    const { heatmapDir, heatmapFormat } = this.deps.config.imaging;
    return path.join(heatmapDir, `${sha256}.${HEATMAP_EXTENSION[heatmapFormat]}`);
  }

  /** Overlays are drawn and can be drawn again later from the file kept in processed/. */
  private get overlaysKept(): boolean {
    const { config } = this.deps;
    return config.imaging.heatmapDir !== '' && config.capture.afterCommit === 'move';
  }

  /** Finishes the image in flight and the work after each result; queued files stay in the folder. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
    await this.draining;
    await this.afterwork.idle();
    await this.hasher.close();
    for (const file of this.queue.splice(0)) file.release();
  }

  health(): CapabilityHealth {
    return { status: 'ok', detail: `${this.queue.length} queued${this.draining ? ', one in flight' : ''}, ${this.afterwork.depth} finishing, ${Math.max(this.debt.size, this.held.size)} overlays to draw when idle` };
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
    this.lastArrival = performance.now();
    this.deps.logger.debug({ file: file.name, queued: this.queue.length }, 'queued');
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  private async drain(): Promise<void> {
    let prefetched: { file: ClaimedFile; prepared: Promise<Settled | Prepared> } | undefined;
    for (let file = this.queue.shift(); file !== undefined && !this.stopping; file = this.queue.shift()) {
      await this.afterwork.room();
      const prepared = prefetched?.file === file ? prefetched.prepared : this.prepare(file);
      // The next file is read, hashed and decoded while this one is inferred (ONNX Runtime works
      // on its own thread): in a burst that hides the intake's cost and most of the decode's.
      const next = this.queue[0];
      prefetched = next ? { file: next, prepared: prepared.then(() => this.prepare(next)) } : undefined;
      let settled: Settled = 'release';
      try {
        settled = await this.process(file, await prepared);
      } catch (error) {
        // The file stays in capture/; it is offered again by the next scan.
        this.fault(toCspineError(error));
      } finally {
        if (settled === 'recheck') file.recheck();
        else if (settled === 'release') file.release();
      }
    }
    // Stopped with the next file read ahead: its decode holds the model and its hash the
    // hashing thread, which stop() closes after this. The file itself stays queued.
    await prefetched?.prepared;
    this.drawOverlaysWhenQuiet();
  }

  /**
   * One overlay at a time, once no image has arrived for OVERLAY_QUIET_MS and none waits: the
   * newest held in memory first, then those owed. An image arriving meanwhile waits at most
   * for the one being drawn.
   */
  private drawOverlaysWhenQuiet(): void {
    if (this.stopping || this.drawingOverlay || this.quietTimer || (this.held.size === 0 && this.debt.size === 0)) return;
    const wait = this.lastArrival + OVERLAY_QUIET_MS - performance.now();
    this.quietTimer = setTimeout(() => {
      this.quietTimer = undefined;
      // Busy: the end of the drain asks again. Something arrived since: wait for quiet again.
      if (this.draining || this.queue.length > 0) return;
      if (performance.now() - this.lastArrival < OVERLAY_QUIET_MS) return this.drawOverlaysWhenQuiet();
      this.drawingOverlay = true;
      this.afterwork.push({
        file: 'overlay',
        run: async () => {
          try {
            await this.drawNextOverlay();
          } finally {
            this.drawingOverlay = false;
            this.drawOverlaysWhenQuiet();
          }
        },
      });
    }, Math.max(0, wait));
  }

  private async drawNextOverlay(): Promise<void> {
    const newest = [...this.held.keys()].at(-1);
    if (newest !== undefined) {
      const overlay = this.held.get(newest)!;
      this.held.delete(newest);
      return this.writeHeatmap(newest, overlay);
    }
    const owed = this.debt.next();
    if (owed) await this.redraw(owed);
  }

  /** Kept to draw when quiet; beyond OVERLAYS_HELD the oldest is let go (owed, when the file is kept). */
  private hold(sha256: string, overlay: NonNullable<Overlay>): void {
    this.held.set(sha256, overlay);
    if (this.held.size > OVERLAYS_HELD) this.held.delete(this.held.keys().next().value!);
  }

  private async redraw(owed: OwedOverlay): Promise<void> {
    const bytes = await this.debt.bytesOf(owed);
    if (!bytes) return this.deps.logger.debug({ sha256: owed.sha256, source: owed.source }, 'owed overlay not drawn: the kept file is gone');
    try {
      const overlay = await this.deps.model.use(async (classifier) => {
        const { decoded, cam } = await classifier.classify(bytes);
        return cam ? { decoded, cam, manifest: classifier.engine.model.manifest } : undefined;
      });
      if (overlay) await this.writeHeatmap(owed.sha256, overlay);
    } catch (error) {
      this.deps.logger.warn({ sha256: owed.sha256, err: (error as Error).message }, 'could not draw the owed heatmap overlay');
    }
  }

  private fault(problem: CspineError): void {
    this.deps.bus.emit('faultRaised', { kind: 'image-pipeline', code: problem.code, message: problem.message });
  }

  /**
   * The file's bytes, their hash, and the image decoded for the model in service, the hash in
   * its own thread while this one decodes; 'release' when the file was taken away before we got
   * to it, 'recheck' when it changed meanwhile. Never rejects.
   */
  private async prepare(file: ClaimedFile): Promise<Settled | Prepared> {
    try {
      const read = await readCapturedFile(this.captureDir, file.name, this.deps.config.capture.maxFileBytes);
      if (read.kind === 'refused') return { read, sha256: read.sha256, decoded: undefined };
      const [sha256, decoded] = await Promise.all([this.hasher.hash(path.join(this.captureDir, file.name), read.version), this.decode(read.bytes)]);
      if (sha256 !== CHANGED) return { read, sha256, decoded };
      this.stillWriting(file, 'it changed while it was read');
      return 'recheck';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'release';
      // A pipeline fault; the file stays in capture/ and is offered again by the next scan.
      this.fault(toCspineError(error));
      return 'release';
    }
  }

  /** Undefined when no model is in service (the image waits for one). Never rejects. */
  private async decode(bytes: Buffer): Promise<Decoded | undefined> {
    return this.deps.model.use(async (classifier) => {
      try {
        return { classifier, ...(await classifier.decode(bytes)) };
      } catch (error) {
        return { classifier, error: toCspineError(error) };
      }
    });
  }

  /**
   * Commit, then lamp, then the rest: the lamp changes as soon as the result and its outbox row
   * are in SQLite; the overlay and the move out of capture/ follow in the background.
   */
  private async process(file: ClaimedFile, prepared: Settled | Prepared): Promise<Settled> {
    if (typeof prepared === 'string') return prepared;
    const { read, sha256 } = prepared;
    const { history } = this.deps.store;
    const earlier = history.outcomeOf(sha256);
    if (earlier) {
      this.deps.logger.info({ file: file.name, sha256, outcome: earlier.kind }, 'content already recorded; finishing its disposal');
      return this.handOff(file, sha256, 'already-recorded', earlier, undefined);
    }

    const facts: ImageFacts = { sha256, source: file.name, sourceKind: isCameraStill(file.name) ? 'camera' : 'folder', bytes: read.size, receivedAt: file.readyAt };
    let outcome: { outcome: Outcome; overlay: Overlay } | typeof STILL_WRITING | undefined;
    if (read.kind === 'refused') {
      const rejected = await this.rejectUnlessWriting(file, read, facts, read.error);
      outcome = rejected === STILL_WRITING ? rejected : { outcome: rejected, overlay: undefined };
    } else {
      const { bytes } = read;
      // Undefined: the model was taken out of service before this image got to it; it waits.
      outcome = await this.deps.model.use((classifier) => this.classify(file, read, bytes, prepared.decoded, facts, classifier));
    }
    if (outcome === undefined) return 'release';
    if (outcome === STILL_WRITING) return 'recheck';
    this.lookedAgain.delete(file.name);
    return this.handOff(file, sha256, outcome.outcome.kind, outcome.outcome, outcome.overlay);
  }

  /**
   * The lamp now; the disposal after it, and the overlay once no image has arrived for a while.
   * The claim is released when the file is disposed of.
   */
  private handOff(file: ClaimedFile, sha256: string, kind: CommitEvent['kind'], outcome: Outcome, overlay: Overlay): 'handed-off' {
    this.committed(file, sha256, kind, outcome);
    if (overlay) this.hold(sha256, overlay);
    // Owed as well, so one let go from memory (or lost to a crash) is drawn from the kept file.
    // A copy of content already recorded may be the one left behind by a crash before its overlay.
    const owes = outcome.kind === 'classified' && this.overlaysKept && (overlay !== undefined || (kind === 'already-recorded' && this.deps.model.model?.cam === true));
    this.afterwork.push({
      file: file.name,
      run: async () => {
        try {
          const kept = await this.disposeOf(file, sha256, outcome);
          if (owes) this.debt.owe({ sha256, source: file.name, processedAt: new Date().toISOString(), path: kept });
          this.drawOverlaysWhenQuiet();
          this.deps.bus.emit('imageFinished', { file: file.name, sha256 });
        } catch (error) {
          // Recorded but not moved: it is offered again, found recorded, and moved then.
          this.fault(toCspineError(error));
        } finally {
          file.release();
        }
      },
    });
    return 'handed-off';
  }

  private async classify(file: ClaimedFile, read: IntakeRead, bytes: Buffer, decoded: Decoded | undefined, facts: ImageFacts, classifier: Classifier): Promise<{ outcome: Outcome; overlay: Overlay } | typeof STILL_WRITING> {
    this.deps.bus.emit('imageStarted', { file: file.name, waiting: this.queue.length });
    let result: Classification;
    try {
      // Decoded ahead for a model since taken out of service: decoded again for this one.
      if (decoded?.classifier !== classifier) result = await classifier.classify(bytes);
      else if ('error' in decoded) throw decoded.error;
      else result = await classifier.classifyDecoded(decoded.image, decoded.decodeMs);
    } catch (error) {
      const rejected = await this.rejectUnlessWriting(file, read, facts, toCspineError(error));
      return rejected === STILL_WRITING ? rejected : { outcome: rejected, overlay: undefined };
    }
    if (!(await unchangedSinceRead(file.path, read))) return this.stillWriting(file, 'it changed while it was read');
    Object.assign(facts, result.image);
    facts.dicom = this.dicomRecord(result.decoded.dicom);
    this.deps.store.history.recordClassified(facts, {
      modelId: result.model.id,
      modelSha256: result.model.sha256,
      thresholds: result.model.thresholds,
      label: result.label,
      probabilities: result.probabilities,
      triage: result.triage,
      timingsMs: result.timingsMs,
      quality: result.quality?.measures,
      ood: result.ood,
      orientation: result.orientation,
    });
    this.deps.logger.info(
      {
        file: file.name,
        sha256: facts.sha256,
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
    const { cam } = result;
    const overlay = cam && this.deps.config.imaging.heatmapDir !== '' ? { decoded: result.decoded, cam, manifest: classifier.engine.model.manifest } : undefined;
    return { outcome: { kind: 'classified', label: result.label, triage: result.triage }, overlay };
  }

  private committed(file: ClaimedFile, sha256: string, kind: CommitEvent['kind'], outcome: Outcome): void {
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

  /** An artifact beside the history row (data/heatmaps/<sha256>.jpg); failing to draw it loses no result. */
  private async writeHeatmap(sha256: string, { decoded, cam, manifest }: NonNullable<Overlay>): Promise<void> {
    try {
      const file = this.overlayFile(sha256);
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await fs.promises.writeFile(file, await heatmapOverlay(decoded, cam, manifest, { format: this.deps.config.imaging.heatmapFormat }));
      this.deps.bus.emit('overlayDrawn', { sha256 });
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
    const failedAsItIs = failedBefore !== undefined && sameVersion(failedBefore, read.version);
    if (!failedAsItIs && Date.now() - read.version.mtimeMs < YOUNG_FILE_MS) {
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

  /** Where the file now is (undefined when classified files are deleted). */
  private async disposeOf(file: ClaimedFile, sha256: string, outcome: Outcome): Promise<string | undefined> {
    if (outcome.kind === 'classified') return disposeClassified(file.path, this.dispose, new Date());
    return quarantineRejected(file.path, { file: file.name, sha256, code: outcome.code, message: outcome.message, rejectedAt: new Date().toISOString() }, this.dispose);
  }
}
