import crypto from 'node:crypto';
import path from 'node:path';
import { Camera } from './capture/camera/camera.js';
import { CaptureFolder } from './capture/capture-folder.js';
import { DicomReceiver } from './capture/dicom-receiver/receiver.js';
import type { Config } from './config/schema.js';
import { FrontPanel } from './indicators/front-panel.js';
import type { ButtonInput } from './indicators/gpio-access.js';
import type { Indicators } from './indicators/indicators.js';
import { cpuTemperatureC, diskFreeBytes } from './jobs/health.js';
import { applyRetention } from './jobs/retention.js';
import { JobScheduler } from './jobs/scheduler.js';
import type { Logger } from './logger.js';
import { ImagePipeline } from './pipeline/image-pipeline.js';
import { ModelSlot } from './pipeline/model-slot.js';
import { SitePseudonyms } from './privacy/pseudonymizer.js';
import type { Capability, CapabilityHealth } from './runtime/capability.js';
import { DeviceStatus } from './runtime/device-state.js';
import { EventBus } from './runtime/event-bus.js';
import { Lifecycle } from './runtime/lifecycle.js';
import { RuntimeStateFile } from './runtime/state-file.js';
import { HistoryStore } from './store/store.js';
import { healthPayload, type HealthSnapshot } from './sync/payloads.js';
import { Sync } from './sync/sync.js';
import { ModelUpdates } from './updates/model-updates.js';
import { PackageStore, updatesDir } from './updates/package-store.js';
import { PackagePointer } from './updates/pointer.js';
import { SystemdWatchdog } from './watchdog.js';

export interface ServiceOptions {
  /** The acknowledge button, where the board has one. */
  button?: ButtonInput | undefined;
  /** Environment for systemd's notify socket and watchdog interval. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The device: the lifecycle root. It builds each capability, lists them in start order (each
 * may use those above it; they stop in reverse) and wires them to one event bus. Nothing here
 * knows how a capability works inside; where a new one goes: docs/architecture.md.
 */
export class Service {
  readonly bus: EventBus;
  readonly status: DeviceStatus;
  readonly frontPanel: FrontPanel;
  readonly pipeline: ImagePipeline;
  readonly model: ModelSlot;
  /** Undefined while `dicom.receiver.enabled` is false. */
  readonly dicomReceiver: DicomReceiver | undefined;
  private readonly store: HistoryStore;
  private readonly sync: Sync | undefined;
  private readonly lifecycle: Lifecycle;
  private readonly stateFile: RuntimeStateFile;
  private readonly startedAt = Date.now();

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly indicators: Indicators,
    options: ServiceOptions = {},
  ) {
    const bus = (this.bus = new EventBus(logger));
    this.status = new DeviceStatus(bus);
    const pseudonyms = new SitePseudonyms(config.privacy.siteSecretFile);
    const store = (this.store = new HistoryStore(config.store.path, config.sync.mqtt.enabled));
    this.frontPanel = new FrontPanel({ indicators, button: options.button, settings: config.indicators, status: this.status, store, bus, logger });
    this.sync = config.sync.mqtt.enabled ? new Sync(config, store, pseudonyms, bus, logger) : undefined;
    const packages = config.updates.enabled ? new PackageStore(updatesDir(config)) : undefined;
    const pointer = packages ? new PackagePointer(packages.root, logger) : undefined;
    const model = (this.model = new ModelSlot(config, store, bus, logger, pointer));
    const updates = packages && pointer ? new ModelUpdates({ config, store, model, pointer, packages, bus, logger }) : undefined;
    const pipeline = (this.pipeline = new ImagePipeline({ config, store, model, pseudonymizer: pseudonyms, bus, logger }));
    const folder = new CaptureFolder({
      dir: path.resolve(config.capture.dir),
      stableWindowMs: config.capture.stableWindowMs,
      rescanIntervalMs: config.capture.rescanIntervalMs,
      sink: pipeline,
      bus,
      logger,
      modelReady: () => model.model !== undefined,
    });
    this.dicomReceiver = config.dicom.receiver.enabled
      ? new DicomReceiver(config, logger, pseudonyms, { onStateChange: (state) => bus.emit('receiverStateChanged', state) })
      : undefined;
    const camera = config.capture.camera.enabled ? new Camera({ settings: config.capture.camera, captureDir: path.resolve(config.capture.dir), bus, logger }) : undefined;
    const { jobs } = config;
    const scheduler = new JobScheduler(logger)
      .add('health', jobs.healthSchedule, () => this.publishHealth())
      .add('retention', jobs.retentionSchedule, () => applyRetention({ config, history: store.history, sync: this.sync, logger }))
      .add('self-test', jobs.selfTestSchedule, () => model.selfTest());

    const capabilities: Array<Capability | undefined> = [
      this.frontPanel, // first on, last off: "starting" at once, every lamp off at the end
      pseudonyms,
      store,
      this.sync,
      model,
      updates, // replaces the model in service; its commands come through sync
      pipeline,
      folder,
      this.dicomReceiver, // writes into the capture folder, so images that arrive early wait there
      camera, // likewise
      scheduler,
      new SystemdWatchdog(logger, options.env), // READY=1 only once everything above runs
    ];
    this.lifecycle = new Lifecycle(
      capabilities.filter((capability) => capability !== undefined),
      logger,
    );
    this.stateFile = new RuntimeStateFile(config, logger);
    bus.on('faultRaised', this, (fault) => logger.error({ code: fault.code, kind: fault.kind }, fault.message));
    bus.on('deviceStateChanged', this, (state) => this.stateFile.update(state, this.lifecycle.health()));
  }

  /** Starts every capability in order; on failure, stops those started and throws a StartupError. */
  async start(): Promise<void> {
    await this.lifecycle.start();
    this.stateFile.update(this.status.current, this.lifecycle.health(), true);
    this.logger.info({ captureDir: path.resolve(this.config.capture.dir), store: path.resolve(this.config.store.path), model: this.model.model?.id ?? null }, 'service started');
  }

  /** Finishes the image in flight, then stops every capability in reverse order. */
  async stop(): Promise<void> {
    this.status.stopping();
    await this.lifecycle.stop();
    this.stateFile.stopped();
    this.logger.info('service stopped');
  }

  /** Each capability's own health, by name (what `doctor` shows of the running service). */
  capabilityHealth(): Record<string, CapabilityHealth> {
    return Object.fromEntries(this.lifecycle.health().map(({ name, ...health }) => [name, health]));
  }

  health(): HealthSnapshot {
    const model = this.model.model;
    const backlog = this.sync?.backlog() ?? { pending: 0, oldestPendingAt: null, warnAt: this.config.sync.outboxWarnAt, overLimit: false };
    return {
      uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
      lamp: { backend: this.indicators.backend, level: this.indicators.current?.level ?? null },
      queueDepth: this.pipeline.queueDepth,
      outbox: backlog,
      lastResultAt: this.store.history.lastProcessedAt(),
      model: model ? { id: model.id, sha256: model.sha256 } : null,
      diskFreeBytes: diskFreeBytes(path.dirname(path.resolve(this.config.store.path))),
      cpuTempC: cpuTemperatureC(),
    };
  }

  /** The heartbeat: on MQTT when sync is on, and in the runtime state file for `doctor`. */
  publishHealth(): void {
    this.stateFile.update(this.status.current, this.lifecycle.health(), true);
    const snapshot = this.health();
    this.logger.debug({ health: snapshot }, 'health');
    this.sync?.publishHealth(healthPayload(this.config.deviceId, crypto.randomUUID(), snapshot));
  }
}
