import type { TriageLevel } from '../triage/policy.js';

/** What the lamps show: a triage level, or the device's own state. */
export type LampLevel = 'IDLE' | 'PROCESSING' | TriageLevel;

export interface LampState {
  level: LampLevel;
  reason: string;
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
  close(): Promise<void>;
}
