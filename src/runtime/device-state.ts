import type { EventBus } from './event-bus.js';
import type { ErrorCodeValue } from '../errors.js';
import type { DeviceState, Fault, FaultKind } from './events.js';

type Activity = Exclude<DeviceState, { state: 'fault' }>;
type ShownResult = Extract<DeviceState, { state: 'result' }>;

/** When several faults are active the lamp names the one a crew can least work around. */
const FAULT_ORDER: FaultKind[] = ['model', 'capture', 'camera', 'image-pipeline'];

/**
 * Folds the bus's events into the device state: any active fault wins; otherwise what the
 * device is doing (starting, ready, processing, showing a result, acknowledged).
 */
export class DeviceStatus {
  private activity: Activity = { state: 'starting' };
  private readonly faults = new Map<FaultKind, Fault>();
  private lastResult: ShownResult | undefined;

  constructor(private readonly bus: EventBus) {
    bus.on('imageStarted', this, ({ file, waiting }) => this.become({ state: 'processing', file, waiting }));
    bus.on('resultCommitted', this, (commit) => {
      // A commit proves the pipeline works again.
      this.faults.delete('image-pipeline');
      this.lastResult = { state: 'result', sha256: commit.sha256, triage: commit.triage, ...(commit.label === undefined ? {} : { label: commit.label }) };
      this.become(this.lastResult);
    });
    bus.on('modelChanged', this, (model) => {
      if (!model) return;
      const recovered = this.faults.delete('model');
      // A model switched in by a fleet update must not blank the result the crew is reading.
      const busy = this.activity.state === 'processing' || this.activity.state === 'result';
      if (recovered || !busy) this.become({ state: 'ready', model });
    });
    bus.on('faultRaised', this, (fault) => {
      this.faults.set(fault.kind, fault);
      this.publish();
    });
    bus.on('faultCleared', this, (kind) => {
      if (this.faults.delete(kind)) this.publish();
    });
  }

  get current(): DeviceState {
    for (const kind of FAULT_ORDER) {
      const fault = this.faults.get(kind);
      if (fault) return { state: 'fault', fault };
    }
    return this.activity;
  }

  get activeFaults(): Fault[] {
    return [...this.faults.values()];
  }

  /** Short press: the result showing has been seen. */
  acknowledge(): void {
    if (this.current.state === 'result') this.become({ state: 'acknowledged' });
  }

  /** Long press: the last result again, unless a fault is showing. */
  showLastResult(): boolean {
    if (!this.lastResult || this.faults.size > 0) return false;
    this.become(this.lastResult);
    return true;
  }

  stopping(): void {
    this.become({ state: 'stopping' });
  }

  private become(activity: Activity): void {
    this.activity = activity;
    this.publish();
  }

  private publish(): void {
    this.bus.emit('deviceStateChanged', this.current);
  }
}

/** The device state without what changes with every image: what a dashboard or `doctor` needs. */
export type Condition = { state: 'starting' } | { state: 'ready' } | { state: 'stopping' } | { state: 'fault'; code: ErrorCodeValue };

export function conditionOf(device: DeviceState): Condition {
  switch (device.state) {
    case 'fault':
      return { state: 'fault', code: device.fault.code };
    case 'starting':
      return { state: 'starting' };
    case 'stopping':
      return { state: 'stopping' };
    default:
      return { state: 'ready' };
  }
}

export function sameCondition(a: Condition | undefined, b: Condition): boolean {
  return a?.state === b.state && (a.state !== 'fault' || b.state !== 'fault' || a.code === b.code);
}
