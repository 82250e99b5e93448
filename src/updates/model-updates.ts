import type { Config } from '../config/schema.js';
import { ConfigError, CspineError, ErrorCode, toCspineError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ModelSlot } from '../pipeline/model-slot.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';
import type { EventBus } from '../runtime/event-bus.js';
import type { UpdateStep } from '../runtime/events.js';
import type { HistoryStore } from '../store/store.js';
import type { ModelCommand, ReceivedModelCommand } from './command.js';
import { CommandLog } from './command-log.js';
import { fetchPackage } from './fetch-package.js';
import type { PackageStore } from './package-store.js';
import type { PackagePointer } from './pointer.js';
import { updateStep, type CommandRef } from './report.js';

export interface ModelUpdatesParts {
  config: Config;
  store: HistoryStore;
  model: ModelSlot;
  pointer: PackagePointer;
  packages: PackageStore;
  bus: EventBus;
  logger: Logger;
}

/** Why a command's work was abandoned: the service stops (it resumes at the next start), or a newer command replaced it. */
const STOPPING = 'stopping';
const SUPERSEDED = 'superseded';

interface Job {
  command: ModelCommand;
  abort: AbortController;
  phase: 'downloading' | 'testing' | 'rolling back';
  bytes?: { done: number; total: number };
}

/**
 * Fleet model updates as one capability: takes the model commands sync puts on the bus, one at
 * a time (a newer one replaces one still downloading; an older one delivered late is ignored),
 * fetches and verifies the package, has the
 * model slot test and switch to it, confirms it after updates.confirmAfterMs, and reports each
 * step on the bus for sync to send (docs/model-updates.md). The model in service never stops
 * for an update that fails. Started after the model slot, whose model it replaces.
 */
export class ModelUpdates implements Capability {
  readonly name = 'model updates';
  private started = false;
  /** updates.url, checked at start. */
  private baseUrl = '';
  private commands: CommandLog | undefined;
  /** Commands not yet taken up, in the order they arrived. */
  private readonly waiting: ReceivedModelCommand[] = [];
  private job: Job | undefined;
  private working: Promise<void> | undefined;
  private confirmTimer: NodeJS.Timeout | undefined;
  /** The last command's outcome, for doctor. */
  private last: string | undefined;

  constructor(private readonly parts: ModelUpdatesParts) {
    // From construction, not start: the retained command can arrive while the model still loads.
    parts.bus.on('modelCommand', this, (received) => this.receive(received));
  }

  async start(): Promise<void> {
    this.baseUrl = checkSettings(this.parts.config);
    this.commands = new CommandLog(this.parts.store.db);
    this.started = true;
    this.prune();
    this.scheduleConfirmation();
    this.drain();
  }

  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.confirmTimer);
    this.job?.abort.abort(STOPPING);
    await this.working;
  }

  health(): CapabilityHealth {
    if (!this.started) return { status: 'off', detail: 'not started' };
    const { job } = this;
    const wanted = job?.command.package;
    const about = wanted ? `${wanted.modelId} (package ${wanted.manifestSha256.slice(0, 12)}…)` : '';
    switch (job?.phase) {
      case 'downloading': {
        const share = job.bytes && job.bytes.total > 0 ? `${Math.floor((100 * job.bytes.done) / job.bytes.total)}% of ` : '';
        return { status: 'ok', detail: `downloading ${share}${about}` };
      }
      case 'testing':
        return { status: 'ok', detail: `testing ${about} beside the model in service` };
      case 'rolling back':
        return { status: 'ok', detail: 'rolling back: testing the previous package beside the model in service' };
      default:
        return { status: 'ok', detail: `idle; ${this.last ?? 'no model command since the start'}` };
    }
  }

  private receive(received: ReceivedModelCommand): void {
    if (received.ok) {
      const { command } = received;
      if (command.deviceId !== this.parts.config.deviceId) {
        this.parts.logger.warn({ commandId: command.id, deviceId: command.deviceId }, `a model command for device ${command.deviceId} arrived on this device's topic; ignored`);
        return;
      }
      const inHand = this.job?.command;
      // The same command again (a reconnect while it is in hand) changes nothing.
      if (inHand?.id === command.id) return;
      // A newer command replaces one still downloading, as it replaced it at the broker.
      if (inHand && this.job?.phase === 'downloading' && Date.parse(command.issuedAt) > Date.parse(inHand.issuedAt)) this.job.abort.abort(SUPERSEDED);
    }
    this.waiting.push(received);
    this.drain();
  }

  private drain(): void {
    if (this.working || !this.started) return;
    this.working = (async () => {
      for (let next = this.waiting.shift(); next && this.started; next = this.waiting.shift()) await this.handle(next);
    })().finally(() => {
      this.working = undefined;
      if (this.waiting.length > 0) this.drain();
    });
  }

  private async handle(received: ReceivedModelCommand): Promise<void> {
    if (!received.ok) return this.refuse(received);
    const { command } = received;
    const phase = this.log().phaseOf(command.id);
    if (phase === 'done') return;
    if (this.log().hasNewerThan(command.issuedAt)) {
      this.log().record(command.id, 'done', command.issuedAt);
      this.parts.logger.info({ commandId: command.id, issuedAt: command.issuedAt }, 'model command older than one already taken up; ignored');
      return;
    }
    const about = commandRef(command);
    if (this.parts.pointer.read()?.switchedBy === command.id) {
      // It switched, and the service ended before the step was recorded.
      const end = command.action === 'install' ? updateStep(about, 'active', this.parts.model.model) : this.rolledBack(about);
      return this.finish(command, end);
    }
    if (phase === 'testing') {
      const message = 'the service ended while this package was being tested (a crash?); it is not tried again';
      return this.finish(command, updateStep(about, 'failed', this.parts.model.model, { code: ErrorCode.SELF_TEST_FAILED, message }));
    }
    this.log().record(command.id, 'received', command.issuedAt);
    const job: Job = { command, abort: new AbortController(), phase: command.action === 'install' ? 'downloading' : 'rolling back' };
    this.job = job;
    try {
      this.finish(command, command.action === 'install' ? await this.install(job) : await this.rollBack(job));
    } catch (error) {
      const reason: unknown = job.abort.signal.reason;
      if (reason === STOPPING) return; // the download resumes at the next start
      if (reason === SUPERSEDED) {
        this.log().record(command.id, 'done', command.issuedAt);
        this.parts.logger.info({ commandId: command.id }, 'model command replaced by a newer one before its package arrived');
        return;
      }
      const problem = toCspineError(error);
      this.finish(command, updateStep(about, 'failed', this.parts.model.model, { code: problem.code, message: problem.message }));
    } finally {
      this.job = undefined;
      this.prune();
    }
  }

  private async install(job: Job): Promise<UpdateStep> {
    const { command } = job;
    const { model, pointer, config } = this.parts;
    if (!command.package || !command.download) throw new CspineError(ErrorCode.UPDATE_COMMAND_INVALID, 'an install command needs "package" and "download"');
    const about = commandRef(command);
    const wanted = command.package;
    if (pointer.read()?.active.manifestSha256 === wanted.manifestSha256) return updateStep(about, 'active', model.model, { message: `package ${wanted.manifestSha256} is already in service` });
    let reported = -1;
    const onProgress = (done: number, total: number) => {
      job.bytes = { done, total };
      // A report per tenth, not per chunk: they all go through the outbox.
      const tenth = total > 0 ? Math.floor((10 * done) / total) : 0;
      if (tenth <= reported) return;
      reported = tenth;
      this.report(updateStep(about, 'downloading', model.model, { bytesDone: done, bytesTotal: total }));
    };
    const received = await fetchPackage({ wanted, baseUrl: this.baseUrl, token: command.download.token, config, store: this.parts.packages, signal: job.abort.signal, logger: this.parts.logger, onProgress });
    job.phase = 'testing';
    this.log().record(command.id, 'testing', command.issuedAt);
    this.report(updateStep(about, 'testing', model.model));
    const next = { dir: received.dir, manifestSha256: wanted.manifestSha256, modelId: received.modelId, commandId: command.id, rolloutId: command.rolloutId };
    const now = await model.replace(next, command.id);
    this.scheduleConfirmation();
    return updateStep(about, 'active', now);
  }

  /** Undoes the command's rollout: the previous package back, if the package in service came with that rollout. */
  private async rollBack(job: Job): Promise<UpdateStep> {
    const { command } = job;
    if (this.parts.pointer.read()?.active.rolloutId !== command.rolloutId) {
      const model = this.parts.model.model;
      const message = `nothing to undo: no package of rollout ${command.rolloutId} is in service here; ${model?.id ?? 'the model'} stays`;
      return updateStep(commandRef(command), 'rolled-back', model, { code: ErrorCode.UPDATE_ROLLED_BACK, message });
    }
    await this.parts.model.rollBack(command.id);
    clearTimeout(this.confirmTimer);
    return this.rolledBack(commandRef(command));
  }

  private rolledBack(about: CommandRef): UpdateStep {
    const model = this.parts.model.model;
    return updateStep(about, 'rolled-back', model, { code: ErrorCode.UPDATE_ROLLED_BACK, message: `rolled back on the dashboard's command; ${model?.id ?? 'the previous package'} is back in service` });
  }

  /** Not a command this device can read: said once per command id, so the retained one is not reported at every connect. */
  private refuse(invalid: Extract<ReceivedModelCommand, { ok: false }>): void {
    if (invalid.id !== undefined && this.log().phaseOf(invalid.id) === 'done') return;
    const message = `model command refused: ${invalid.problem}`;
    this.parts.logger.error({ code: ErrorCode.UPDATE_COMMAND_INVALID, commandId: invalid.id }, message);
    if (invalid.id === undefined || invalid.rolloutId === undefined) return;
    this.finish({ id: invalid.id }, updateStep({ commandId: invalid.id, rolloutId: invalid.rolloutId }, 'failed', this.parts.model.model, { code: ErrorCode.UPDATE_COMMAND_INVALID, message }));
  }

  private finish(command: { id: string; issuedAt?: string }, end: UpdateStep): void {
    this.log().record(command.id, 'done', command.issuedAt);
    this.report(end);
    this.last = `last command ${command.id}: ${end.state}${end.code ? ` (${end.code}: ${end.message})` : ''} at ${new Date().toISOString()}`;
    const level = end.state === 'failed' || end.state === 'rolled-back' ? 'warn' : 'info';
    this.parts.logger[level]({ commandId: command.id, state: end.state, code: end.code, model: end.model }, end.message ?? `model update ${end.state}`);
  }

  private report(step: UpdateStep): void {
    this.parts.bus.emit('updateProgress', step);
  }

  /** A package that runs updates.confirmAfterMs (in this start) is confirmed: the crash-loop guard lets go of it. */
  private scheduleConfirmation(): void {
    clearTimeout(this.confirmTimer);
    if (this.parts.pointer.read()?.confirmed !== false) return;
    this.confirmTimer = setTimeout(() => this.confirm(), this.parts.config.updates.confirmAfterMs);
  }

  private confirm(): void {
    // At FAULT it has not proven itself; the next start counts against it.
    if (!this.parts.model.model) return;
    const active = this.parts.pointer.confirm()?.active;
    if (!active?.commandId || !active.rolloutId) return;
    const step = updateStep({ commandId: active.commandId, rolloutId: active.rolloutId, packageSha256: active.manifestSha256 }, 'confirmed', this.parts.model.model);
    this.report(step);
    this.parts.logger.info({ commandId: active.commandId, model: step.model }, 'model update confirmed');
  }

  /** Keeps the active and the previous package; any other received package goes. */
  private prune(): void {
    const pointer = this.parts.pointer.read();
    const keep = [pointer?.active.dir, pointer?.previous?.dir].filter((dir) => dir !== undefined);
    try {
      for (const dir of this.parts.packages.prune(keep)) this.parts.logger.info({ dir }, 'removed a model package no longer needed');
    } catch (error) {
      this.parts.logger.warn({ err: (error as Error).message }, 'could not remove old model packages; trying again after the next command');
    }
  }

  private log(): CommandLog {
    if (!this.commands) throw new CspineError(ErrorCode.INTERNAL, 'model updates used before start');
    return this.commands;
  }
}

function commandRef(command: ModelCommand): CommandRef {
  return { commandId: command.id, rolloutId: command.rolloutId, ...(command.package ? { packageSha256: command.package.manifestSha256 } : {}) };
}

/** Updates need commands (MQTT), a place to fetch from, and keys to trust: refused at start without them. Returns updates.url. */
function checkSettings(config: Config): string {
  const problems = [
    ...(config.sync.mqtt.enabled ? [] : ['updates.enabled needs sync.mqtt.enabled: model commands come over MQTT']),
    ...(config.updates.url ? [] : ['updates.enabled needs updates.url: the dashboard packages are fetched from']),
    ...(config.model.trustedKeys.length > 0 ? [] : ['updates.enabled needs model.trustedKeys: only packages signed by a trusted key are installed (cspine-edge model keygen, docs/model-updates.md)']),
  ];
  if (problems.length > 0 || !config.updates.url) throw new ConfigError(ErrorCode.CONFIG_INVALID, `fleet model updates cannot start: ${problems.join('; ')}`, problems);
  return config.updates.url;
}
