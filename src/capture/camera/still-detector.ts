/**
 * Decides when a camera watching the X-ray unit's screen sees a new image worth classifying
 * (docs/camera.md, "what triggers a capture"). Every frame is reduced to a coarse grid of cell
 * means; all decisions are made on that grid, so the cost per frame is one pass over the pixels.
 */

export interface GrayFrame {
  data: Uint8Array;
  width: number;
  height: number;
  /** ms, monotonic-ish (Date.now() or the frame's presentation time) */
  at: number;
}

export interface StillDetectorOptions {
  /** The picture must stay steady this long before it is taken (default 1500 in the config). */
  stableMs: number;
  /** Share of the picture's cells that must change for "a new picture" (default 0.2). */
  minChangedShare: number;
  /** A cell counts as changed when its mean level moves by more than this (0..1 of full scale). */
  cellThreshold: number;
  /** Perceptual-hash distance (bits of 64) at or under which two stills are the same image. */
  sameImageDistance: number;
  /** How many recent stills are remembered as "already classified" (the same image shown again is not taken again). */
  memory: number;
}

/** Cells per side: a cursor or a clock digit covers a handful of 4096, an image hundreds. */
const GRID = 64;
/** 8×8 samples per cell average sensor noise away; more would only cost time on big frames. */
const SAMPLES_PER_CELL_SIDE = 8;
/**
 * Below this spread (0..1 of full scale) a picture is treated as flat when it is normalised, so
 * the leftover noise of a blank screen is not blown up into changes.
 */
const FLAT_SPREAD = 0.03;
/**
 * A still must show at least this interquartile range of cell levels (0..1 of full scale) where
 * it differs from the last still: a blank screen between images has about none (its noise is
 * averaged away in the cells), phantoms on a screen 0.2 or more. The quartiles ignore the few
 * cells a border line, cursor or clock makes bright.
 */
const MIN_STRUCTURE = 0.03;
/** The perceptual hash keeps the 8×8 lowest frequencies of the grid halved to 32×32. */
const HASH_SIDE = 8;

/** A frame reduced to side×side cell means (row-major), 0..1 of full scale. */
interface Cells {
  side: number;
  levels: Float32Array;
  mean: number;
  /** Standard deviation of the levels, never under FLAT_SPREAD. */
  spread: number;
}

export class StillDetector {
  /** The picture as it was when it last changed; "steady" means still close to it. */
  private anchor: Cells | undefined;
  private steadySince = 0;
  /** Whether the current steady picture is still to be judged (each is judged once). */
  private pending = false;
  /** The last `memory` stills taken, newest last: an image among them shown again is not taken again. */
  private readonly taken: Array<{ cells: Cells; hash: bigint }> = [];

  constructor(private readonly options: StillDetectorOptions) {}

  /** Feed every frame; returns the frame to classify when a new image has appeared and stayed steady for stableMs, otherwise undefined. */
  push(frame: GrayFrame): GrayFrame | undefined {
    const cells = toCells(frame, GRID);
    if (!this.anchor || shareOf(changedCells(this.anchor, cells, this.options.cellThreshold)) >= this.options.minChangedShare) {
      this.anchor = cells;
      this.steadySince = frame.at;
      this.pending = true;
      return undefined;
    }
    if (!this.pending || frame.at - this.steadySince < this.options.stableMs) return undefined;
    this.pending = false;
    return this.isNewImage(cells) ? frame : undefined;
  }

  /** Judges a steady picture once; remembers it when it is taken. */
  private isNewImage(cells: Cells): boolean {
    const { cellThreshold, minChangedShare, sameImageDistance, memory } = this.options;
    const lastTaken = this.taken.at(-1)?.cells;
    // Where the plain levels moved, not the normalised ones: normalising against a blank screen
    // makes the unchanged parts of the picture (a viewer's frame and background) look changed.
    const moved = lastTaken ? movedCells(lastTaken, cells, cellThreshold) : undefined;
    if (interquartileRange(cells.levels, moved) < MIN_STRUCTURE) return false;
    // Shown before: as alike as a steady picture is to itself (the test that ignores noise,
    // flicker, a cursor and a clock), or as close by its perceptual hash.
    const hash = hashCells(halve(cells));
    const shownBefore = this.taken.some(
      (seen) => shareOf(changedCells(seen.cells, cells, cellThreshold)) < minChangedShare || hammingDistance(seen.hash, hash) <= sameImageDistance,
    );
    if (shownBefore) return false;
    this.taken.push({ cells, hash });
    if (this.taken.length > memory) this.taken.shift();
    return true;
  }
}

/**
 * Which cells differ once each picture's overall level is taken out (a flickering screen or
 * an exposure change moves every cell alike). Differences are measured in the units of the
 * livelier picture, so a blank screen against an image still counts as a change.
 */
function changedCells(a: Cells, b: Cells, threshold: number): boolean[] {
  const limit = threshold / Math.max(a.spread, b.spread);
  const changed: boolean[] = new Array(a.levels.length);
  for (let i = 0; i < a.levels.length; i++) changed[i] = Math.abs((a.levels[i]! - a.mean) / a.spread - (b.levels[i]! - b.mean) / b.spread) > limit;
  return changed;
}

/** Which cells' plain levels differ by more than the threshold. */
function movedCells(a: Cells, b: Cells, threshold: number): boolean[] {
  const moved: boolean[] = new Array(a.levels.length);
  for (let i = 0; i < a.levels.length; i++) moved[i] = Math.abs(a.levels[i]! - b.levels[i]!) > threshold;
  return moved;
}

/** A 64-bit DCT hash (pHash) of the frame's low frequencies; insensitive to brightness, contrast and noise. */
export function perceptualHash(frame: GrayFrame): bigint {
  return hashCells(halve(toCells(frame, GRID)));
}

function hashCells(cells: Cells): bigint {
  const coefficients = lowFrequencies(cells.levels, cells.side, HASH_SIDE);
  // The DC term says only how bright the picture is; the median of the others splits the bits.
  const median = medianOf(coefficients.subarray(1));
  let hash = 0n;
  for (const value of coefficients) hash = (hash << 1n) | (value > median ? 1n : 0n);
  return hash;
}

/** The keep×keep lowest DCT-II coefficients of a side×side block (row-major), without normalisation. */
function lowFrequencies(levels: Float32Array, side: number, keep: number): Float32Array {
  const basis = new Float32Array(keep * side);
  for (let k = 0; k < keep; k++) for (let n = 0; n < side; n++) basis[k * side + n] = Math.cos((Math.PI * (2 * n + 1) * k) / (2 * side));
  const rows = new Float32Array(side * keep);
  for (let y = 0; y < side; y++) {
    for (let k = 0; k < keep; k++) {
      let sum = 0;
      for (let x = 0; x < side; x++) sum += levels[y * side + x]! * basis[k * side + x]!;
      rows[y * keep + k] = sum;
    }
  }
  const out = new Float32Array(keep * keep);
  for (let v = 0; v < keep; v++) {
    for (let u = 0; u < keep; u++) {
      let sum = 0;
      for (let y = 0; y < side; y++) sum += rows[y * keep + u]! * basis[v * side + y]!;
      out[v * keep + u] = sum;
    }
  }
  return out;
}

function hammingDistance(a: bigint, b: bigint): number {
  let bits = a ^ b;
  let count = 0;
  while (bits) {
    bits &= bits - 1n;
    count++;
  }
  return count;
}

/**
 * Cell means over a square grid laid on the frame (its aspect ratio is not kept: the cells only
 * need to be the same from frame to frame). Big frames are sampled on a stride so the cost
 * stays near grid² × SAMPLES_PER_CELL_SIDE² whatever the camera's size.
 */
function toCells(frame: GrayFrame, grid: number): Cells {
  const { data, width, height } = frame;
  if (data.length < width * height) throw new RangeError(`a ${width}×${height} frame needs ${width * height} bytes, not ${data.length}`);
  const side = Math.min(grid, width, height);
  const step = Math.max(1, Math.floor(Math.min(width, height) / side / SAMPLES_PER_CELL_SIDE));
  const cellOfColumn = new Uint16Array(width);
  for (let x = 0; x < width; x++) cellOfColumn[x] = Math.floor((x * side) / width);
  const sums = new Float64Array(side * side);
  const counts = new Uint32Array(side * side);
  for (let y = 0; y < height; y += step) {
    const rowStart = Math.floor((y * side) / height) * side;
    const line = y * width;
    for (let x = 0; x < width; x += step) {
      const cell = rowStart + cellOfColumn[x]!;
      sums[cell] = sums[cell]! + data[line + x]!;
      counts[cell] = counts[cell]! + 1;
    }
  }
  const levels = new Float32Array(side * side);
  for (let i = 0; i < levels.length; i++) levels[i] = sums[i]! / (255 * counts[i]!);
  return withStatistics(side, levels);
}

function withStatistics(side: number, levels: Float32Array): Cells {
  let sum = 0;
  for (const level of levels) sum += level;
  const mean = sum / levels.length;
  let squares = 0;
  for (const level of levels) squares += (level - mean) ** 2;
  return { side, levels, mean, spread: Math.max(FLAT_SPREAD, Math.sqrt(squares / levels.length)) };
}

/** 2×2 cell averages: the detector's 64×64 grid becomes the hash's 32×32 without another pass over the frame. */
function halve(cells: Cells): Cells {
  const side = cells.side;
  const half = Math.floor(side / 2);
  const levels = new Float32Array(half * half);
  for (let y = 0; y < half; y++) {
    for (let x = 0; x < half; x++) {
      const i = 2 * y * side + 2 * x;
      levels[y * half + x] = (cells.levels[i]! + cells.levels[i + 1]! + cells.levels[i + side]! + cells.levels[i + side + 1]!) / 4;
    }
  }
  return withStatistics(half, levels);
}

/** Spread of the levels, over the selected cells only when a selection is given. */
function interquartileRange(levels: Float32Array, selected?: boolean[]): number {
  const values = selected ? levels.filter((_, i) => selected[i]) : levels.slice();
  if (values.length === 0) return 0;
  values.sort();
  return values[Math.floor(values.length * 0.75)]! - values[Math.floor(values.length * 0.25)]!;
}

function medianOf(values: Float32Array): number {
  const sorted = values.slice().sort();
  return sorted[Math.floor(sorted.length / 2)]!;
}

function shareOf(flags: boolean[]): number {
  let count = 0;
  for (const flag of flags) if (flag) count++;
  return count / flags.length;
}
