const WINDOW_MS = 60_000;
/** Addresses remembered at most; beyond, those with no failure in the window are forgotten. */
const MAX_ADDRESSES = 10_000;

export type LoginOutcome<T> = { status: 'succeeded'; value: T } | { status: 'failed' } | { status: 'limited'; retryAfterSeconds: number };

/**
 * Failed logins per client address in a sliding minute. Attempts from one address are checked
 * one after the other, so a burst of parallel guesses is held to the limit too, while many
 * people behind one address can still sign in at once.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs `tryLogin` (undefined: wrong credentials) unless the address has used up its failures. */
  attempt<T>(address: string, tryLogin: () => Promise<T | undefined>): Promise<LoginOutcome<T>> {
    const turn = (this.queues.get(address) ?? Promise.resolve()).then(() => this.take(address, tryLogin));
    const settled = turn.catch(() => undefined);
    this.queues.set(address, settled);
    void settled.then(() => {
      if (this.queues.get(address) === settled) this.queues.delete(address);
    });
    return turn;
  }

  private async take<T>(address: string, tryLogin: () => Promise<T | undefined>): Promise<LoginOutcome<T>> {
    const now = this.now();
    const recent = (this.failures.get(address) ?? []).filter((at) => at > now - WINDOW_MS);
    if (recent.length >= this.perMinute) {
      this.failures.set(address, recent);
      const oldest = recent[0] ?? now;
      return { status: 'limited', retryAfterSeconds: Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000)) };
    }
    const value = await tryLogin();
    if (value !== undefined) return { status: 'succeeded', value };
    recent.push(this.now());
    this.failures.set(address, recent);
    this.forgetIdle(now);
    return { status: 'failed' };
  }

  private forgetIdle(now: number): void {
    if (this.failures.size <= MAX_ADDRESSES) return;
    for (const [address, list] of this.failures) {
      if (list.every((at) => at <= now - WINDOW_MS)) this.failures.delete(address);
    }
  }
}
