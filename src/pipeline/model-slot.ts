import path from 'node:path';
import type { Config } from '../config/schema.js';
import { CspineError, ErrorCode, toCspineError } from '../errors.js';
import { sha256File } from '../hash.js';
import { runSelfTest } from '../jobs/self-test.js';
import type { Logger } from '../logger.js';
import { MANIFEST_FILE } from '../model/manifest.js';
import { readManifest } from '../model/model-package.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';
import type { EventBus } from '../runtime/event-bus.js';
import type { ModelInfo } from '../runtime/events.js';
import type { HistoryStore } from '../store/store.js';
import type { PackagePointer, PackageRef } from '../updates/pointer.js';
import { updateStep } from '../updates/report.js';
import type { Classifier } from './classifier.js';
import { openClassifier } from './open-classifier.js';

/**
 * The model the device classifies with. Loads and self-tests it at start; when that fails
 * (no package, a corrupt one, a failed self-test, now or at the nightly check) the device is
 * at FAULT, images wait in the capture folder, and loading is retried every
 * `model.retryIntervalMs`. That is a designed state, not a failed start: start() resolves.
 * A classifier taken out of service is closed only once nobody is using it any more.
 *
 * With fleet updates (`pointer`), the package the pointer names is loaded instead of the
 * configured one, and another can be switched in between two images (`replace`, `rollBack`).
 * A package not yet confirmed is on probation: failing to load, or more than
 * updates.maxUnconfirmedStarts starts (a crash loop), brings the previous one back.
 */
export class ModelSlot implements Capability {
  readonly name = 'model';
  /** Undefined while no model passes its self-test. */
  private active: Classifier | undefined;
  private readonly leases = new Map<Classifier, number>();
  private readonly closing = new Set<Promise<void>>();
  private retry: NodeJS.Timeout | undefined;
  private stopped = true;
  private lastProblem: CspineError | undefined;

  constructor(
    private readonly config: Config,
    private readonly store: HistoryStore,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly pointer?: PackagePointer,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    const crashLooping = this.countStart();
    await this.load();
    if (crashLooping) this.reportRollBack(crashLooping.package, crashLooping.why);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    this.takeOutOfService();
    await Promise.all(this.closing);
  }

  health(): CapabilityHealth {
    const manifest = this.active?.engine.model.manifest;
    if (manifest) return { status: 'ok', detail: `${manifest.id} (sha256 ${manifest.sha256.slice(0, 12)}…) passed its self-test` };
    if (this.lastProblem) return { status: 'failed', detail: `${this.lastProblem.code}: ${this.lastProblem.message}; retrying every ${this.config.model.retryIntervalMs / 1000} s` };
    return { status: 'off', detail: 'not loaded' };
  }

  get model(): ModelInfo | undefined {
    return this.active ? modelInfoOf(this.active) : undefined;
  }

  /**
   * Loads the package at `next.dir` beside the model in service and runs its self-test; only
   * when it passes are the pointer written (the one in service becomes `previous`) and the
   * classifiers swapped, synchronously, between two images: an image in flight finishes on the
   * old one, which closes when it is done. A failure leaves the model in service as it was.
   */
  async replace(next: PackageRef, switchedBy: string): Promise<ModelInfo> {
    const pointer = this.requirePointer();
    const previous = pointer.read()?.active ?? (await configuredPackage(this.config));
    return this.switchTo(next, () => pointer.switchTo(next, previous, switchedBy));
  }

  /** The previous package back into service the same way (tested first); throws when there is none. */
  async rollBack(switchedBy: string): Promise<ModelInfo> {
    const pointer = this.requirePointer();
    const previous = pointer.read()?.previous;
    if (!previous) throw new CspineError(ErrorCode.UPDATE_COMMAND_INVALID, 'nothing to roll back to: this device keeps no previous package');
    return this.switchTo(previous, () => pointer.rollBack(switchedBy));
  }

  /**
   * Runs `work` with the model in service, which stays open until `work` settles even if the
   * model is taken out of service meanwhile. Undefined (and `work` not run) when there is none.
   */
  async use<T>(work: (classifier: Classifier) => Promise<T>): Promise<T | undefined> {
    const classifier = this.active;
    if (!classifier) return undefined;
    this.leases.set(classifier, (this.leases.get(classifier) ?? 0) + 1);
    try {
      return await work(classifier);
    } finally {
      const left = (this.leases.get(classifier) ?? 1) - 1;
      if (left > 0) this.leases.set(classifier, left);
      else {
        this.leases.delete(classifier);
        if (classifier !== this.active) this.close(classifier);
      }
    }
  }

  /** The nightly check; a failure takes the model out of service until it reloads cleanly. */
  async selfTest(): Promise<void> {
    try {
      const result = await this.use((classifier) => runSelfTest(classifier, this.store.db, this.config.jobs.selfTestTolerance));
      if (result) this.logger.info({ status: result.status, maxDelta: result.maxDelta }, 'self-test passed');
    } catch (error) {
      this.suspend(toCspineError(error));
    }
  }

  /** Brings a model into service when there is none (at start, and retrying at FAULT). */
  private async load(): Promise<void> {
    const { pointer } = this;
    const pointed = pointer?.read();
    try {
      const started = Date.now();
      const classifier = await this.openTested(pointed?.active.dir);
      // Stopped, or an update switched a model in meanwhile: this one is not needed.
      if (this.stopped || this.active) return void (await classifier.engine.close());
      this.putInService(classifier);
      const { manifest } = classifier.engine.model;
      this.logger.info({ model: manifest.id, sha256: manifest.sha256, dir: classifier.engine.model.dir, thresholds: classifier.thresholds, loadMs: Date.now() - started }, 'model loaded');
    } catch (error) {
      const problem = toCspineError(error);
      if (pointer && pointed?.previous && !pointed.confirmed && !this.stopped) {
        // On probation: a new package that does not load gives way to the one it replaced.
        pointer.rollBack(null);
        await this.load();
        return this.reportRollBack(pointed.active, `${pointed.active.modelId} failed to load (${problem.code}: ${problem.message})`);
      }
      this.suspend(problem);
    }
  }

  /** A new classifier for `dir` (undefined: the configured package) that passed its self-test. */
  private async openTested(dir: string | undefined): Promise<Classifier> {
    const classifier = await openClassifier(this.config, dir);
    try {
      const check = await runSelfTest(classifier, this.store.db, this.config.jobs.selfTestTolerance);
      this.logger.info({ model: classifier.engine.model.manifest.id, selfTest: check.status }, 'model self-test passed');
      return classifier;
    } catch (error) {
      await classifier.engine.close();
      throw error;
    }
  }

  private async switchTo(next: PackageRef, writePointer: () => void): Promise<ModelInfo> {
    const classifier = await this.openTested(next.dir);
    try {
      writePointer();
    } catch (error) {
      await classifier.engine.close();
      throw error;
    }
    const model = this.putInService(classifier);
    this.logger.info({ model: model.id, sha256: model.sha256, dir: next.dir }, 'model switched');
    return model;
  }

  /** Synchronous, so no image starts between the old model leaving and the new one arriving. */
  private putInService(classifier: Classifier): ModelInfo {
    const old = this.active;
    this.active = classifier;
    this.lastProblem = undefined;
    clearTimeout(this.retry);
    if (old && !this.leases.has(old)) this.close(old);
    const model = modelInfoOf(classifier);
    this.bus.emit('modelChanged', model);
    return model;
  }

  /**
   * Counts this start against a package on probation (before it loads, so a crash while loading
   * counts too); past updates.maxUnconfirmedStarts the pointer goes back to the previous one.
   */
  private countStart(): { package: PackageRef; why: string } | undefined {
    const counted = this.pointer?.countStart();
    const { maxUnconfirmedStarts, confirmAfterMs } = this.config.updates;
    if (!counted || counted.confirmed || counted.unconfirmedStarts <= maxUnconfirmedStarts) return undefined;
    const why = `${counted.active.modelId} started ${counted.unconfirmedStarts} times without running updates.confirmAfterMs (${confirmAfterMs} ms) once: a crash loop`;
    if (!this.pointer?.rollBack(null)) {
      this.logger.error({ code: ErrorCode.UPDATE_ROLLED_BACK }, `${why}, but there is no previous package to go back to`);
      return undefined;
    }
    return { package: counted.active, why };
  }

  /** Tells the dashboard, under the command that brought the package, that it was taken back. */
  private reportRollBack(from: PackageRef, why: string): void {
    const message = `${why}; ${this.model ? `${this.model.id} is back in service` : 'the previous package did not load either'}`;
    this.logger.warn({ code: ErrorCode.UPDATE_ROLLED_BACK, package: from.manifestSha256 }, message);
    if (from.commandId === null || from.rolloutId === null) return;
    const about = { commandId: from.commandId, rolloutId: from.rolloutId, packageSha256: from.manifestSha256 };
    this.bus.emit('updateProgress', updateStep(about, 'rolled-back', this.model, { code: ErrorCode.UPDATE_ROLLED_BACK, message }));
  }

  private requirePointer(): PackagePointer {
    if (!this.pointer) throw new CspineError(ErrorCode.INTERNAL, 'model updates are off (updates.enabled)');
    return this.pointer;
  }

  /** FAULT: no classification (images wait in the folder) until a model loads and passes. */
  private suspend(problem: CspineError): void {
    this.lastProblem = problem;
    this.takeOutOfService();
    this.bus.emit('faultRaised', { kind: 'model', code: problem.code, message: problem.message });
    if (this.stopped) return;
    const retryMs = this.config.model.retryIntervalMs;
    this.logger.error(`images stay in ${this.config.capture.dir} until a model loads and passes its self-test; retrying every ${retryMs / 1000} s`);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.load(), retryMs);
  }

  private takeOutOfService(): void {
    const classifier = this.active;
    if (!classifier) return;
    this.active = undefined;
    this.bus.emit('modelChanged', undefined);
    if (!this.leases.has(classifier)) this.close(classifier);
  }

  private close(classifier: Classifier): void {
    const closed = classifier.engine.close().catch((error: unknown) => this.logger.warn({ err: (error as Error).message }, 'closing the model session failed'));
    this.closing.add(closed);
    void closed.finally(() => this.closing.delete(closed));
  }
}

function modelInfoOf(classifier: Classifier): ModelInfo {
  const { manifest } = classifier.engine.model;
  return { id: manifest.id, sha256: manifest.sha256, cam: manifest.outputs.cam !== undefined };
}

/**
 * The configured model.dir/model.id as the pointer names packages, to be `previous` after the
 * first update; undefined when there is none to go back to.
 */
async function configuredPackage(config: Config): Promise<PackageRef | undefined> {
  const dir = path.resolve(config.model.dir, config.model.id);
  try {
    const manifest = await readManifest(dir);
    return { dir, manifestSha256: await sha256File(path.join(dir, MANIFEST_FILE)), modelId: manifest.id, commandId: null, rolloutId: null };
  } catch {
    return undefined;
  }
}
