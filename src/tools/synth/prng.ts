/**
 * Seeded randomness for the phantom generator. Math.random cannot be seeded, and the
 * data set must be reproducible byte for byte from (seed, index), so everything random
 * comes from here.
 */

const GOLDEN = 0x9e3779b9;

/** A 32-bit avalanche hash (lowbias32): nearby inputs give unrelated outputs. */
export function mix32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Folds one more 32-bit value into a hash; order matters, so (a, b) ≠ (b, a). */
export function combine(hash: number, value: number): number {
  return mix32((hash ^ mix32((value + GOLDEN) >>> 0)) >>> 0);
}

/**
 * The seed of case `index` of a run seeded with `seed`. It depends on nothing else, so
 * case 7 is the same picture whether the run has 10 cases or 10 000.
 */
export function caseSeed(seed: number, index: number): number {
  // Both halves of a safe integer count, so seeds above 2^32 do not collide with small ones.
  const low = seed >>> 0;
  const high = Math.floor(seed / 0x1_0000_0000) >>> 0;
  return combine(combine(combine(0x5eed5eed, low), high), index >>> 0);
}

/**
 * Independent streams of one case, so changing the class does not change the anatomy.
 * `physiology` is drawn only by `synth --variation clinical`.
 */
export const Stream = { anatomy: 1, lesion: 2, imaging: 3, noise: 4, physiology: 5 } as const;

/** mulberry32: tiny, fast, and good enough for pictures (not for cryptography). */
export class Rng {
  private state: number;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Whole number in [low, high], both ends included. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }

  /** Standard normal (Box–Muller); the second value of each pair is kept for the next call. */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u = this.next();
    if (u < 1e-12) u = 1e-12;
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * this.next();
    this.spare = radius * Math.sin(angle);
    this.hasSpare = true;
    return radius * Math.cos(angle);
  }
}
