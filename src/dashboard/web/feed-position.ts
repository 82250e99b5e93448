/** Seqs below a newer one that may still be committed, remembered for this long. */
const GAP_GRACE_MS = 10_000;
/** Only the seqs just below a newer one are worth waiting for; older gaps are duplicates ingest skipped. */
const MAX_GAP_SPAN = 1000;

/**
 * Where the live feed stands in `results.seq`. Seqs are handed out at insert but become visible
 * at commit, and two transactions may commit in the opposite order: a seq skipped over may
 * still appear. Such gaps are read again for a grace period. Most never fill: an insert that
 * ingest skips as a duplicate uses up a seq too.
 */
export class FeedPosition {
  private gaps = new Map<number, number>();

  constructor(
    private last: number,
    private readonly now: () => number = Date.now,
  ) {}

  get lastSeq(): number {
    return this.last;
  }

  /** The seqs still awaited below lastSeq. */
  openGaps(): number[] {
    const expired = this.now() - GAP_GRACE_MS;
    for (const [seq, seenAt] of this.gaps) if (seenAt < expired) this.gaps.delete(seq);
    return [...this.gaps.keys()];
  }

  /** Records a seq read; false when it was already passed on (never, with the query the feed runs). */
  advance(seq: number): boolean {
    if (this.gaps.delete(seq)) return true;
    if (seq <= this.last) return false;
    const now = this.now();
    for (let missing = Math.max(this.last + 1, seq - MAX_GAP_SPAN); missing < seq; missing++) this.gaps.set(missing, now);
    this.last = seq;
    return true;
  }
}
