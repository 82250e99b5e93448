/**
 * The one contract every part of the running device follows (store, model, capture folder,
 * DICOM receiver, sync, jobs, lamps, watchdog). The lifecycle root starts them in dependency
 * order and stops them in reverse; a new capability implements this and takes its place in
 * the list in src/service.ts (docs/architecture.md).
 */
export interface Capability {
  /** Shown in logs, in start-up failures and by `doctor`. */
  readonly name: string;
  /** Ready to be used by those started after it; throws when it cannot be. */
  start(): Promise<void>;
  /** Finishes or abandons its work, releases what it holds; never throws. */
  stop(): Promise<void>;
  health(): CapabilityHealth;
}

export type HealthStatus = 'ok' | 'degraded' | 'failed' | 'off';

export interface CapabilityHealth {
  status: HealthStatus;
  detail: string;
}
