import type { Config } from '../config/schema.js';
import { toCspineError, type CspineError } from '../errors.js';
import { runSelfTest } from '../jobs/self-test.js';
import type { Logger } from '../logger.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';
import type { EventBus } from '../runtime/event-bus.js';
import type { ModelInfo } from '../runtime/events.js';
import type { HistoryStore } from '../store/store.js';
import type { Classifier } from './classifier.js';
import { openClassifier } from './open-classifier.js';

/**
 * The model the device classifies with. Loads and self-tests it at start; when that fails
 * (no package, a corrupt one, a failed self-test, now or at the nightly check) the device is
 * at FAULT, images wait in the capture folder, and loading is retried every
 * `model.retryIntervalMs`. That is a designed state, not a failed start: start() resolves.
 * A classifier taken out of service is closed only once nobody is using it any more.
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
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.load();
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
    const manifest = this.active?.engine.model.manifest;
    return manifest ? { id: manifest.id, sha256: manifest.sha256, cam: manifest.outputs.cam !== undefined } : undefined;
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

  private async load(): Promise<void> {
    try {
      const started = Date.now();
      const classifier = await openClassifier(this.config);
      const { manifest } = classifier.engine.model;
      try {
        const check = await runSelfTest(classifier, this.store.db, this.config.jobs.selfTestTolerance);
        this.logger.info({ model: manifest.id, selfTest: check.status }, 'model self-test passed');
      } catch (error) {
        await classifier.engine.close();
        throw error;
      }
      if (this.stopped) return void (await classifier.engine.close());
      this.active = classifier;
      this.lastProblem = undefined;
      this.logger.info({ model: manifest.id, sha256: manifest.sha256, thresholds: classifier.thresholds, loadMs: Date.now() - started }, 'model loaded');
      this.bus.emit('modelChanged', { id: manifest.id, sha256: manifest.sha256, cam: manifest.outputs.cam !== undefined });
    } catch (error) {
      this.suspend(toCspineError(error));
    }
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
