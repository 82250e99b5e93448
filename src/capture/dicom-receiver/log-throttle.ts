/**
 * At most one log line per key and window. A flood of connections from one address costs a
 * line as it starts and then one line per window saying how many more there were, instead of a
 * line each: the log, and the disk it is on, outlast the flood.
 */

interface Window {
  /** Lines not written since the window opened. */
  suppressed: number;
  summary: (suppressed: number) => void;
  timer: NodeJS.Timeout;
}

export class LogThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(readonly windowMs: number) {}

  /**
   * Calls `line` unless `key` already had a line in this window; then only counts it, and
   * `summary` gets the count when the window closes.
   */
  log(key: string, line: () => void, summary: (suppressed: number) => void): void {
    const open = this.windows.get(key);
    if (open) {
      open.suppressed++;
      return;
    }
    line();
    this.open(key, summary);
  }

  /** Writes the counts of the windows still open (the receiver is stopping). */
  flush(): void {
    for (const [key, window] of this.windows) {
      clearTimeout(window.timer);
      this.windows.delete(key);
      if (window.suppressed > 0) window.summary(window.suppressed);
    }
  }

  private open(key: string, summary: (suppressed: number) => void): void {
    const window: Window = { suppressed: 0, summary, timer: setTimeout(() => this.close(key, window), this.windowMs) };
    window.timer.unref();
    this.windows.set(key, window);
  }

  private close(key: string, window: Window): void {
    this.windows.delete(key);
    if (window.suppressed === 0) return;
    window.summary(window.suppressed);
    // The flood may go on: its next line is the next window's summary, not a line per connection.
    this.open(key, window.summary);
  }
}
