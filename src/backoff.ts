/**
 * Exponential back-off with jitter between `minMs` and `maxMs` for the `attempt`-th retry (0 for
 * the first), so a fleet coming back online does not stampede the broker or the dashboard.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
  return Math.max(minMs, Math.round(ceiling * (0.5 + Math.random() * 0.5)));
}
