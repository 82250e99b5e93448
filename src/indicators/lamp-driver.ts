import type { Indicators, LampState } from './indicators.js';
import { LAMP_TEST, LAMPS, patternFor, type Frame, type IdleStyle, type Lamp, type Pattern } from './patterns.js';

/** The physical outputs of a backend; `set` is only called when a value changes. */
export interface LampOutputs {
  readonly backend: string;
  readonly has: ReadonlySet<Lamp>;
  set(lamp: Lamp, on: boolean): void;
  release(): Promise<void>;
}

export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Plays patterns on real outputs with one timer. Each frame's end is computed from the
 * pattern's start, not from when the previous timer fired, so blinking does not drift; a new
 * state cancels the timer before starting, so timers never overlap.
 */
export class LampDriver implements Indicators {
  readonly backend: string;
  private state: LampState | undefined;
  private timer: unknown;
  private readonly lit = new Map<Lamp, boolean>();
  private testing: Promise<void> | undefined;

  constructor(
    private readonly outputs: LampOutputs,
    private readonly idle: IdleStyle = 'off',
    private readonly clock: Clock = systemClock,
  ) {
    this.backend = outputs.backend;
  }

  get current(): LampState | undefined {
    return this.state;
  }

  show(state: LampState): void {
    this.state = state;
    if (!this.testing) this.play(patternFor(state, this.idle));
  }

  lampTest(): Promise<void> {
    this.testing ??= new Promise<void>((resolve) => {
      this.play(LAMP_TEST, () => {
        this.testing = undefined;
        this.play(patternFor(this.state ?? { level: 'IDLE', reason: '' }, this.idle));
        resolve();
      });
    });
    return this.testing;
  }

  failSafe(): void {
    this.clock.clearTimeout(this.timer);
    for (const lamp of LAMPS) this.write(lamp, false);
  }

  async close(): Promise<void> {
    this.failSafe();
    await this.outputs.release();
  }

  private play(pattern: Pattern, onIntroEnd?: () => void): void {
    this.clock.clearTimeout(this.timer);
    const frames: Frame[] = [...pattern.intro, ...pattern.loop];
    const loopStart = pattern.intro.length;
    let index = 0;
    let frameStart = this.clock.now();
    const step = (): void => {
      const frame = frames[index]!;
      for (const lamp of LAMPS) this.write(lamp, frame.on.includes(lamp));
      if (!Number.isFinite(frame.ms)) return;
      const frameEnd = frameStart + frame.ms;
      this.timer = this.clock.setTimeout(() => {
        frameStart = frameEnd;
        index = index + 1 < frames.length ? index + 1 : loopStart;
        if (index === loopStart && onIntroEnd) return onIntroEnd();
        step();
      }, Math.max(0, frameEnd - this.clock.now()));
    };
    step();
  }

  private write(lamp: Lamp, on: boolean): void {
    if (!this.outputs.has.has(lamp) || this.lit.get(lamp) === on) return;
    this.lit.set(lamp, on);
    this.outputs.set(lamp, on);
  }
}
