import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../atomic-file.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { CapabilityHealth } from './capability.js';
import { conditionOf, sameCondition, type Condition } from './device-state.js';
import type { DeviceState } from './events.js';

/** What the running device leaves beside its database for `doctor` (another process) to read. */
export interface RuntimeSnapshot {
  pid: number;
  /** False once the service has stopped. */
  running: boolean;
  updatedAt: string;
  device: DeviceState;
  capabilities: Array<{ name: string } & CapabilityHealth>;
}

export function runtimeStateFile(config: Config): string {
  return path.join(path.dirname(path.resolve(config.store.path)), 'runtime.state.json');
}

export function readRuntimeState(config: Config): RuntimeSnapshot | undefined {
  try {
    return JSON.parse(fs.readFileSync(runtimeStateFile(config), 'utf8')) as RuntimeSnapshot;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (one of another user's counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Written when the device's condition changes (starting, ready, a fault, stopped) and with each
 * health heartbeat, not on every image: an SD card should not take two writes per radiograph
 * for a diagnostic file.
 */
export class RuntimeStateFile {
  private readonly file: string;
  private last: RuntimeSnapshot | undefined;
  private lastCondition: Condition | undefined;

  constructor(
    config: Config,
    private readonly logger: Logger,
  ) {
    this.file = runtimeStateFile(config);
  }

  /** `always`: also when the condition is unchanged (once start-up has finished). */
  update(device: DeviceState, capabilities: RuntimeSnapshot['capabilities'], always = false): void {
    const condition = conditionOf(device);
    if (sameCondition(this.lastCondition, condition) && !always) return;
    this.lastCondition = condition;
    this.write({ pid: process.pid, running: true, updatedAt: new Date().toISOString(), device, capabilities });
  }

  stopped(): void {
    if (this.last) this.write({ ...this.last, running: false, updatedAt: new Date().toISOString() });
  }

  private write(snapshot: RuntimeSnapshot): void {
    this.last = snapshot;
    try {
      writeFileAtomicSync(this.file, `${JSON.stringify(snapshot)}\n`);
    } catch (error) {
      this.logger.warn({ file: this.file, err: (error as Error).message }, 'cannot write the runtime state file (doctor reads it)');
    }
  }
}
