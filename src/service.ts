import { EventEmitter } from 'node:events';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CaptureFolder, type ReadyFile } from './capture/capture-folder.js';
import { DicomReceiver } from './capture/dicom-receiver/receiver.js';
import { disposeClassified, quarantineRejected, readCapturedFile, type DisposeOptions } from './capture/intake.js';
import type { Config } from './config/schema.js';
import { CspineError, ErrorCode, StoreError, toCspineError } from './errors.js';
import type { Indicators, LampState } from './indicators/indicators.js';
import type { Logger } from './logger.js';
import type { Classification, Classifier } from './pipeline/classifier.js';
import { heatmapOverlay } from './imaging/heatmap.js';
import { openClassifier } from './pipeline/open-classifier.js';
import { openDatabase, type Db } from './store/database.js';
import { History, type DicomRecord, type ImageFacts, type Outcome } from './store/history.js';
import type { DicomFacts } from './imaging/image.js';
import { rejectedDicomFacts } from './imaging/dicom/decoder.js';
import { Outbox } from './store/outbox.js';
import { cpuTemperatureC, diskFreeBytes } from './jobs/health.js';
import { pruneProcessedImages } from './jobs/retention.js';
import { JobScheduler } from './jobs/scheduler.js';
import { runSelfTest } from './jobs/self-test.js';
import { healthPayload, type HealthSnapshot } from './sync/payloads.js';
import { loadSiteSecret, Pseudonymizer } from './sync/privacy.js';
import { Sync } from './sync/sync.js';
import { rejectionTriage, type Triage } from './triage/policy.js';

export interface CommitEvent {
  file: string;
  sha256: string;
  /** `already-recorded`: the content had an outcome before (a copy, or a restart after a crash). */
  kind: 'classified' | 'rejected' | 'already-recorded';
  triage: Triage;
  readyAt: Date;
  committedAt: Date;
}

export interface ServiceEvents {
  committed: [CommitEvent];
  fault: [CspineError];
}

/**
 * Wires capture → intake → classifier → history → disposal → lamps, one image at a time.
 * Owns start-up and shutdown; nothing here knows how a stage works inside.
 */
export class Service extends EventEmitter<ServiceEvents> {
  private db: Db | undefined;
  private history: History | undefined;
  private classifier: Classifier | undefined;
  private folder: CaptureFolder | undefined;
  private sync: Sync | undefined;
  private receiver: DicomReceiver | undefined;
  private readonly jobs: JobScheduler;
  private modelRetry: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  /** The result the lamps last showed, for the acknowledge button. */
  private lastResult: { sha256: string; state: LampState } | undefined;
  private readonly queue: ReadyFile[] = [];
  private draining: Promise<void> | undefined;
  private stopping = false;
  private readonly dispose: DisposeOptions;
  private readonly captureDir: string;
  /** Made at the first DICOM image: its UIDs are stored and sent only as pseudonyms. */
  private pseudonymizer: Pseudonymizer | undefined;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly indicators: Indicators,
  ) {
    super();
    this.jobs = new JobScheduler(logger);
    this.captureDir = path.resolve(config.capture.dir);
    this.dispose = {
      afterCommit: config.capture.afterCommit,
      processedDir: path.resolve(config.capture.processedDir),
      rejectedDir: path.resolve(config.capture.rejectedDir),
    };
  }

  /** Opens history and model; the service runs (at FAULT) even when the model is missing. */
  async start(): Promise<void> {
    this.indicators.show({ level: 'IDLE', reason: 'starting' });
    if (this.config.indicators.lampTestAtStart) await this.indicators.lampTest();
    // Created even while the model is missing, so crews can drop images that wait for it.
    await fs.promises.mkdir(this.captureDir, { recursive: true });
    this.db = openDatabase(this.config.store.path);
    if (this.config.sync.mqtt.enabled) {
      const outbox = new Outbox(this.db);
      this.history = new History(this.db, outbox);
      this.sync = new Sync(this.config, outbox, this.history, this.logger);
      this.sync.start();
    } else {
      this.history = new History(this.db);
    }
    this.scheduleJobs();
    await this.startReceiver();
    await this.loadModel();
    this.logger.info({ captureDir: this.captureDir, store: path.resolve(this.config.store.path), model: this.classifier?.engine.model.manifest.id ?? null }, 'service started');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.modelRetry);
    // No new instances first: one being committed finishes, later ones are refused.
    await this.receiver?.stop();
    await this.jobs.stop();
    this.folder?.stop();
    await this.draining;
    await this.classifier?.engine.close();
    await this.sync?.stop();
    this.db?.close();
    await this.indicators.close();
    this.logger.info({ leftInCapture: this.queue.length }, 'service stopped');
  }

  /** Loads and self-tests the model, then opens the capture folder; on failure FAULT and retry. */
  private async loadModel(): Promise<void> {
    try {
      const started = Date.now();
      const classifier = await openClassifier(this.config);
      const { manifest } = classifier.engine.model;
      try {
        const check = await runSelfTest(classifier, this.db!, this.config.jobs.selfTestTolerance);
        this.logger.info({ model: manifest.id, selfTest: check.status }, 'model self-test passed');
      } catch (error) {
        await classifier.engine.close();
        throw error;
      }
      this.classifier = classifier;
      this.logger.info({ model: manifest.id, sha256: manifest.sha256, thresholds: classifier.thresholds, loadMs: Date.now() - started }, 'model loaded');
      this.indicators.show({ level: 'IDLE', reason: `ready — model ${manifest.id}` });
      this.folder = new CaptureFolder(
        this.captureDir,
        this.config.capture,
        (file) => this.enqueue(file),
        (error) => this.fault(new CspineError(ErrorCode.CAPTURE_FOLDER_FAILED, `capture folder ${this.captureDir} cannot be watched: ${error.message}`, { cause: error })),
        this.logger,
        () => {
          if (this.indicators.current?.reason.startsWith(ErrorCode.CAPTURE_FOLDER_FAILED)) this.indicators.show({ level: 'IDLE', reason: 'capture folder back' });
        },
      );
      await this.folder.start();
    } catch (error) {
      this.suspend(toCspineError(error));
    }
  }

  /** FAULT: stop taking images (they wait in the folder) and try the model again later. */
  private suspend(error: CspineError): void {
    this.fault(error);
    this.folder?.stop();
    this.folder = undefined;
    const classifier = this.classifier;
    this.classifier = undefined;
    // The image in flight may still be using it.
    void (this.draining ?? Promise.resolve()).then(() => classifier?.engine.close());
    const retryMs = this.config.model.retryIntervalMs;
    this.logger.error(`images stay in ${this.captureDir} until a model loads and passes its self-test; retrying every ${retryMs / 1000} s`);
    if (!this.stopping) this.modelRetry = setTimeout(() => void this.loadModel(), retryMs);
  }

  /**
   * The C-STORE receiver, when enabled: it writes into the capture folder, so instances that
   * arrive while no model is loaded wait there like dropped files. A port it cannot bind is
   * logged with its code and retried; the rest of the service runs on.
   */
  private async startReceiver(): Promise<void> {
    if (!this.config.dicom.receiver.enabled) return;
    // The same pseudonyms as history: the file name's `sop-…` is the row's instance reference.
    this.pseudonymizer ??= new Pseudonymizer(loadSiteSecret(this.config.sync.siteSecretFile));
    this.receiver = new DicomReceiver(this.config, this.logger, this.pseudonymizer, {
      onStateChange: (state) => {
        if (state.state === 'failed') this.sync?.event('error', state.code, `DICOM receiver: ${state.reason}`);
      },
    });
    await this.receiver.start();
  }

  /** The receiver's state, for tests and health; undefined while it is off. */
  get dicomReceiver(): DicomReceiver | undefined {
    return this.receiver;
  }

  private scheduleJobs(): void {
    const { jobs } = this.config;
    this.jobs.add('health', jobs.healthSchedule, () => this.publishHealth());
    this.jobs.add('retention', jobs.retentionSchedule, () => this.applyRetention());
    this.jobs.add('self-test', jobs.selfTestSchedule, () => this.selfTest());
  }

  /** Short press: the crew has seen the result. Lamps back to idle; the time is recorded. */
  acknowledge(): void {
    const current = this.indicators.current;
    if (!this.lastResult || !current || !['GREEN', 'AMBER', 'RED'].includes(current.level)) {
      this.logger.info({ lamp: current?.level ?? null }, 'acknowledge pressed with no result showing; ignored');
      return;
    }
    this.history!.acknowledge(this.lastResult.sha256);
    this.logger.info({ sha256: this.lastResult.sha256, triage: this.lastResult.state.level }, 'result acknowledged');
    this.indicators.show({ level: 'IDLE', reason: 'acknowledged' });
  }

  /** Long press: show the last result again (unless the device is at FAULT). */
  showLastResult(): void {
    if (!this.lastResult || this.indicators.current?.level === 'FAULT') return;
    this.indicators.show(this.lastResult.state);
  }

  health(): HealthSnapshot {
    const manifest = this.classifier?.engine.model.manifest;
    const backlog = this.sync?.backlog() ?? { pending: 0, oldestPendingAt: null, warnAt: this.config.sync.outboxWarnAt, overLimit: false };
    return {
      uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
      lamp: { backend: this.indicators.backend, level: this.indicators.current?.level ?? null },
      queueDepth: this.queue.length,
      outbox: backlog,
      lastResultAt: this.history?.lastProcessedAt() ?? null,
      model: manifest ? { id: manifest.id, sha256: manifest.sha256 } : null,
      diskFreeBytes: diskFreeBytes(path.dirname(path.resolve(this.config.store.path))),
      cpuTempC: cpuTemperatureC(),
    };
  }

  publishHealth(): void {
    const snapshot = this.health();
    this.logger.debug({ health: snapshot }, 'health');
    this.sync?.publisher.publishNow('health', healthPayload(this.config.deviceId, crypto.randomUUID(), snapshot));
  }

  async applyRetention(): Promise<{ historyDeleted: number; eventsDeleted: number; foldersDeleted: string[] }> {
    const { historyDays, processedDays, maxDiskShare } = this.config.jobs;
    const day = 86_400_000;
    const historyDeleted = this.history!.pruneBefore(new Date(Date.now() - historyDays * day));
    const eventsDeleted = this.sync?.pruneEvents(new Date(Date.now() - historyDays * day)) ?? 0;
    const foldersDeleted = await pruneProcessedImages(this.dispose.processedDir, { olderThan: new Date(Date.now() - processedDays * day), maxDiskShare });
    this.logger.info({ historyDeleted, eventsDeleted, foldersDeleted }, 'retention applied');
    return { historyDeleted, eventsDeleted, foldersDeleted };
  }

  /** The nightly check; a failure suspends classification until the model reloads cleanly. */
  async selfTest(): Promise<void> {
    const classifier = this.classifier;
    if (!classifier) return;
    try {
      const result = await runSelfTest(classifier, this.db!, this.config.jobs.selfTestTolerance);
      this.logger.info({ status: result.status, maxDelta: result.maxDelta }, 'self-test passed');
    } catch (error) {
      this.suspend(toCspineError(error));
    }
  }

  private fault(error: CspineError): void {
    this.logger.error({ code: error.code }, error.message);
    // The lamp line gets the first sentence; the log above has the whole story.
    this.indicators.show({ level: 'FAULT', reason: `${error.code}: ${error.message.split(/\n|\. /)[0]!}` });
    if (!(error instanceof StoreError)) this.sync?.event('error', error.code, error.message);
    this.emit('fault', error);
  }

  private enqueue(file: ReadyFile): void {
    if (this.queue.length >= this.config.capture.maxQueue) {
      // Left in the folder, so nothing is lost: the next scan offers it again.
      this.logger.warn({ file: file.name, queued: this.queue.length }, 'inference queue full; file waits for the next scan');
      this.folder!.release(file.name);
      return;
    }
    this.queue.push(file);
    this.logger.debug({ file: file.name, queued: this.queue.length }, 'queued');
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  private async drain(): Promise<void> {
    while (!this.stopping && this.queue.length > 0) {
      const file = this.queue.shift()!;
      try {
        await this.process(file);
      } catch (error) {
        // The file stays in capture/; it is offered again by the next scan.
        this.fault(toCspineError(error));
      } finally {
        this.folder!.release(file.name);
      }
    }
  }

  private async process(file: ReadyFile): Promise<void> {
    const history = this.history!;
    const classifier = this.classifier;
    if (!classifier) return; // suspended: the file waits in the folder
    let read;
    try {
      read = await readCapturedFile(this.captureDir, file.name, this.config.capture.maxFileBytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // taken away before we got to it
      throw error;
    }
    const facts: ImageFacts = { sha256: read.sha256, source: file.name, sourceKind: 'folder', bytes: read.size, receivedAt: file.readyAt };

    const earlier = history.outcomeOf(read.sha256);
    if (earlier) {
      this.logger.info({ file: file.name, sha256: read.sha256, outcome: earlier.kind }, 'content already recorded; finishing its disposal');
      const committedAt = new Date();
      await this.disposeOf(file, read.sha256, earlier);
      this.emit('committed', { file: file.name, sha256: read.sha256, kind: 'already-recorded', triage: earlier.triage, readyAt: file.readyAt, committedAt });
      return;
    }

    let outcome: Outcome;
    if (read.kind === 'refused') {
      outcome = this.reject(facts, read.error);
    } else {
      this.indicators.show({ level: 'PROCESSING', reason: file.name });
      try {
        const result = await classifier.classify(read.bytes);
        Object.assign(facts, result.image);
        facts.dicom = this.dicomRecord(result.decoded.dicom);
        history.recordClassified(facts, {
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
        outcome = { kind: 'classified', label: result.label, triage: result.triage };
        await this.writeHeatmap(read.sha256, result);
        this.logger.info(
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
      } catch (error) {
        if (error instanceof StoreError) throw error;
        outcome = this.reject(facts, toCspineError(error));
      }
    }
    const committedAt = new Date();
    this.sync?.resultQueued();
    await this.disposeOf(file, read.sha256, outcome);
    this.lastResult = { sha256: read.sha256, state: { ...outcome.triage, ...(outcome.kind === 'classified' ? { label: outcome.label } : {}) } };
    this.indicators.show(this.lastResult.state);
    this.emit('committed', { file: file.name, sha256: read.sha256, kind: outcome.kind, triage: outcome.triage, readyAt: file.readyAt, committedAt });
  }

  /** An artifact beside the history row (data/heatmaps/<sha256>.png); failing to draw it loses no result. */
  private async writeHeatmap(sha256: string, result: Classification): Promise<void> {
    const dir = this.config.imaging.heatmapDir;
    if (!result.cam || dir === '') return;
    try {
      await fs.promises.mkdir(dir, { recursive: true });
      const png = await heatmapOverlay(result.decoded, result.cam, this.classifier!.engine.model.manifest);
      await fs.promises.writeFile(path.join(dir, `${sha256}.png`), png);
    } catch (error) {
      this.logger.warn({ sha256, err: (error as Error).message }, 'could not write the heatmap overlay');
    }
  }

  /** History's view of a DICOM header: pseudonyms for the UIDs, the rest as the decoder sanitised it. */
  private dicomRecord(dicom: DicomFacts | undefined): DicomRecord | undefined {
    if (!dicom) return undefined;
    this.pseudonymizer ??= new Pseudonymizer(loadSiteSecret(this.config.sync.siteSecretFile));
    const { studyInstanceUid, sopInstanceUid } = dicom.identifiers;
    return {
      studyRef: studyInstanceUid === null ? null : this.pseudonymizer.ref('study', studyInstanceUid),
      instanceRef: sopInstanceUid === null ? null : this.pseudonymizer.ref('sop', sopInstanceUid),
      modality: dicom.attributes.modality,
      bodyPart: dicom.attributes.bodyPartExamined,
      viewPosition: dicom.attributes.viewPosition,
      acquiredAt: dicom.attributes.acquisitionDateTime,
    };
  }

  private reject(facts: ImageFacts, error: CspineError): Outcome {
    facts.dicom ??= this.dicomRecord(rejectedDicomFacts(error));
    this.history!.recordRejected(facts, { code: error.code, message: error.message });
    this.logger.warn({ file: facts.source, sha256: facts.sha256, code: error.code }, `rejected: ${error.message}`);
    return { kind: 'rejected', code: error.code, message: error.message, triage: rejectionTriage(error.code) };
  }

  private async disposeOf(file: ReadyFile, sha256: string, outcome: Outcome): Promise<void> {
    if (outcome.kind === 'classified') {
      await disposeClassified(file.path, this.dispose, new Date());
    } else {
      await quarantineRejected(
        file.path,
        { file: file.name, sha256, code: outcome.code, message: outcome.message, rejectedAt: new Date().toISOString() },
        this.dispose,
      );
    }
  }
}
