import type { LampState } from './indicators.js';

export type Lamp = 'green' | 'amber' | 'red' | 'buzzer';
export const LAMPS: readonly Lamp[] = ['green', 'amber', 'red', 'buzzer'];

/** One step of a pattern: these outputs on, all others off, for `ms` (Infinity: until changed). */
export interface Frame {
  ms: number;
  on: readonly Lamp[];
}

/** `intro` plays once (the buzzer's short alert), then `loop` repeats until the state changes. */
export interface Pattern {
  intro: readonly Frame[];
  loop: readonly Frame[];
}

export type IdleStyle = 'off' | 'heartbeat';

const steady = (...on: Lamp[]): Pattern => ({ intro: [], loop: [{ ms: Number.POSITIVE_INFINITY, on }] });
const blink = (onMs: number, offMs: number, ...on: Lamp[]): Pattern => ({ intro: [], loop: [{ ms: onMs, on }, { ms: offMs, on: [] }] });
/** Three short beeps with the red lamp lit: an alert, not a siren. */
const ALERT: readonly Frame[] = [
  { ms: 150, on: ['red', 'buzzer'] },
  { ms: 150, on: ['red'] },
  { ms: 150, on: ['red', 'buzzer'] },
  { ms: 150, on: ['red'] },
  { ms: 150, on: ['red', 'buzzer'] },
];

/** Each lamp in turn, then the buzzer briefly: about 1.6 s. */
export const LAMP_TEST: Pattern = {
  intro: [
    { ms: 500, on: ['green'] },
    { ms: 500, on: ['amber'] },
    { ms: 500, on: ['red'] },
    { ms: 100, on: ['buzzer'] },
  ],
  loop: [{ ms: Number.POSITIVE_INFINITY, on: [] }],
};

/**
 * The lamp language, as data (docs/lamps.md has the same table for people). RED steady is a
 * fracture, RED fast blink a dislocation; FAULT alternates red and amber so it cannot be
 * mistaken for any result.
 */
export function patternFor(state: LampState, idle: IdleStyle): Pattern {
  switch (state.level) {
    case 'IDLE':
      return idle === 'heartbeat' ? { intro: [], loop: [{ ms: 150, on: ['green'] }, { ms: 2850, on: [] }] } : steady();
    case 'PROCESSING':
      return blink(500, 500, 'amber');
    case 'GREEN':
      return steady('green');
    case 'AMBER':
      return steady('amber');
    case 'RED':
      return state.label === 'dislocation' ? { intro: ALERT, loop: blink(125, 125, 'red').loop } : { intro: ALERT, loop: steady('red').loop };
    case 'FAULT':
      return { intro: [], loop: [{ ms: 500, on: ['red'] }, { ms: 500, on: ['amber'] }] };
  }
}
