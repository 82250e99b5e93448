import type { TriageLevel } from '../triage/policy.js';

/** What the lamps show: a triage level, or the device's own state. */
export type LampLevel = 'IDLE' | 'PROCESSING' | TriageLevel;

export interface LampState {
  level: LampLevel;
  reason: string;
  /** The predicted class, for patterns that differ by class (RED dislocation blinks). */
  label?: string;
}

/**
 * The lamps, whatever drives them (terminal simulation now, GPIO later). `show` must not
 * throw: a broken lamp never stops classification. `close` leaves every lamp off, so a
 * stopped service never shows a stale GREEN.
 */
export interface Indicators {
  readonly backend: string;
  /** What the lamps show now; undefined before the first `show`. */
  readonly current: LampState | undefined;
  show(state: LampState): void;
  /** Each lamp in turn (about 1.6 s), then back to what was shown. */
  lampTest(): Promise<void>;
  /** Synchronously all off: for exit and crash handlers, where nothing asynchronous runs. */
  failSafe(): void;
  close(): Promise<void>;
}
