export interface GestureOptions {
  /** A level counts once it has held this long: contact bounce in between is ignored. */
  debounceMs: number;
  /** Held this long: a long press, reported while still held. */
  longPressMs: number;
  onShortPress(): void;
  onLongPress(): void;
  clock?: { setTimeout(callback: () => void, ms: number): unknown; clearTimeout(handle: unknown): void };
}

/** Raw button levels → short press (acknowledge) and long press (show the last result again). */
export class ButtonGestures {
  private pressed = false;
  private settleTimer: unknown;
  private longTimer: unknown;
  private longFired = false;
  private readonly clock;

  constructor(private readonly options: GestureOptions) {
    this.clock = options.clock ?? {
      setTimeout: (callback: () => void, ms: number) => setTimeout(callback, ms),
      clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
    };
  }

  /** Every raw level change, bounces included. */
  input(pressed: boolean): void {
    this.clock.clearTimeout(this.settleTimer);
    this.settleTimer = this.clock.setTimeout(() => this.settled(pressed), this.options.debounceMs);
  }

  private settled(pressed: boolean): void {
    if (pressed === this.pressed) return;
    this.pressed = pressed;
    if (pressed) {
      this.longFired = false;
      this.longTimer = this.clock.setTimeout(() => {
        this.longFired = true;
        this.options.onLongPress();
      }, this.options.longPressMs);
    } else {
      this.clock.clearTimeout(this.longTimer);
      if (!this.longFired) this.options.onShortPress();
    }
  }

  close(): void {
    this.clock.clearTimeout(this.settleTimer);
    this.clock.clearTimeout(this.longTimer);
  }
}
