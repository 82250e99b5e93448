import { ErrorCode, ImageRejectedError, type ErrorCodeValue } from '../errors.js';
import type { DecodedImage } from './image.js';

/**
 * The image-quality gate: between decode and the model, refuse frames a radiograph classifier
 * must not judge (blank, saturated, without contrast, colour photographs, too small). The
 * model answers for any input, so without this an all-black failed exposure came out GREEN.
 * Deterministic and cheap: a few passes over a grid of at most GRID × GRID samples, whatever the
 * image size (about 0.2 ms for 1024×1280 16-bit). Defaults and their measurements: docs/safety.md.
 */

/** Every threshold as a share of full scale (0..1) unless it says pixels; see config `quality`. */
export interface QualityThresholds {
  /** Refused when the frame's short side is under this (E_QUALITY_TOO_SMALL). */
  minSidePx: number;
  /** Refused when the non-black region's bounding box covers less of the frame than this (E_QUALITY_TOO_SMALL). */
  minFieldShare: number;
  /** Refused when p99 − p1 of the grey levels is under this: one value, or nearly (E_QUALITY_BLANK). */
  blankMaxRange: number;
  /** Refused when less of the variation than this is spatial structure, i.e. the frame is noise (E_QUALITY_BLANK). */
  minStructureShare: number;
  /** Refused when more of the frame than this is at full white (E_QUALITY_SATURATED). */
  maxClippedHigh: number;
  /** Refused when more of the frame than this is at black (E_QUALITY_SATURATED). */
  maxClippedLow: number;
  /** Refused when p99 − p1 of the grey levels is under this (E_QUALITY_LOW_CONTRAST). */
  minDynamicRange: number;
  /** Refused when the mean chroma measured before the gray conversion is over this (E_QUALITY_COLOUR). */
  maxColourfulness: number;
}

/** What the gate measured; levels and shares are 0..1 of full scale (255 or 65535). */
export interface QualityMeasures {
  /** The image's size in the file (DecodedImage.fullSize when decoded at reduced resolution). */
  width: number;
  height: number;
  /** Grid samples the measures are computed on. */
  samples: number;
  meanLevel: number;
  stdLevel: number;
  /** p1 and p99 of the grey levels. */
  lowLevel: number;
  highLevel: number;
  /** highLevel − lowLevel: how much of the scale the useful signal spans. */
  dynamicRange: number;
  /** Share of samples within 1% of full scale of white / of black. */
  clippedHigh: number;
  clippedLow: number;
  /**
   * Standard deviation of 8×8-sample block means over the standard deviation of the samples:
   * near 1 for an image with structure, near 1/8 for a frame of pixel noise (any amplitude).
   */
  structureShare: number;
  /** Bounding box of the non-black region (more than 5% of full scale above p1), in pixels, and its share of the frame. */
  fieldWidth: number;
  fieldHeight: number;
  fieldShare: number;
  /** Mean chroma (max − min of R, G, B) of the file before the gray conversion; 0 for gray files and DICOM. */
  colourfulness: number;
}

export type QualityCode =
  | typeof ErrorCode.QUALITY_BLANK
  | typeof ErrorCode.QUALITY_SATURATED
  | typeof ErrorCode.QUALITY_LOW_CONTRAST
  | typeof ErrorCode.QUALITY_COLOUR
  | typeof ErrorCode.QUALITY_TOO_SMALL;

export type QualityVerdict = { ok: true; measures: QualityMeasures } | { ok: false; code: QualityCode; reason: string; measures: QualityMeasures };

/** At most this many samples along each side. */
const GRID = 128;
/** Block side, in grid samples, for the structure measure. */
const BLOCK = 8;
/** Histogram bins over full scale: percentiles to 0.1%. */
const BINS = 1024;
/** "At white" / "at black": within this share of full scale of the end (JPEG rings around 255). */
const CLIP_BAND = 0.01;
/** "Non-black": more than this share of full scale above p1. */
const FIELD_LEVEL = 0.05;

const pct = (share: number, digits = 1): string => `${(share * 100).toFixed(digits)}%`;

/** The measures alone, for tools (scripts/quality-thresholds.ts) and the verdict below. */
export function measureQuality(image: DecodedImage): QualityMeasures {
  const { width, height, pixels } = image;
  const full = image.bitsPerSample === 16 ? 65535 : 255;
  const sx = Math.max(1, Math.ceil(width / GRID));
  const sy = Math.max(1, Math.ceil(height / GRID));
  // Centred grid: the same columns whichever way the image is mirrored, near enough.
  const ox = Math.floor((width - 1 - (Math.ceil(width / sx) - 1) * sx) / 2);
  const oy = Math.floor((height - 1 - (Math.ceil(height / sy) - 1) * sy) / 2);
  const gw = Math.floor((width - 1 - ox) / sx) + 1;
  const gh = Math.floor((height - 1 - oy) / sy) + 1;
  const n = gw * gh;

  const grid = new Uint16Array(n);
  // One monomorphic copy per sample type: the rest runs on the small Uint16Array grid.
  if (pixels instanceof Uint16Array) sampleGrid16(pixels, width, ox, oy, sx, sy, gw, gh, grid);
  else sampleGrid8(pixels, width, ox, oy, sx, sy, gw, gh, grid);
  const histogram = new Uint32Array(BINS);
  const binScale = BINS / (full + 1);
  const highFrom = full - Math.floor(CLIP_BAND * full);
  const lowTo = Math.floor(CLIP_BAND * full);
  let sum = 0;
  let sumSq = 0;
  let high = 0;
  let low = 0;
  for (let k = 0; k < n; k++) {
    const v = grid[k]!;
    histogram[(v * binScale) | 0]!++;
    sum += v;
    sumSq += v * v;
    if (v >= highFrom) high++;
    else if (v <= lowTo) low++;
  }
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  const lowBin = percentileBin(histogram, n, 0.01);
  const highBin = percentileBin(histogram, n, 0.99);
  const binWidth = (full + 1) / BINS / full;

  // Structure: the spread of block means against the spread of the samples in those blocks.
  const nbx = Math.floor(gw / BLOCK);
  const nby = Math.floor(gh / BLOCK);
  let blockSum = 0;
  let blockSumSq = 0;
  let regionSum = 0;
  let regionSumSq = 0;
  for (let by = 0; by < nby; by++) {
    for (let bx = 0; bx < nbx; bx++) {
      let s = 0;
      let s2 = 0;
      for (let y = by * BLOCK; y < (by + 1) * BLOCK; y++) {
        const base = y * gw + bx * BLOCK;
        for (let x = 0; x < BLOCK; x++) {
          const v = grid[base + x]!;
          s += v;
          s2 += v * v;
        }
      }
      const m = s / (BLOCK * BLOCK);
      blockSum += m;
      blockSumSq += m * m;
      regionSum += s;
      regionSumSq += s2;
    }
  }
  const blocks = nbx * nby;
  const regionN = blocks * BLOCK * BLOCK;
  let structureShare = 0;
  if (blocks > 1) {
    const regionMean = regionSum / regionN;
    const regionVar = regionSumSq / regionN - regionMean * regionMean;
    const blockMean = blockSum / blocks;
    const blockVar = blockSumSq / blocks - blockMean * blockMean;
    // Relative to full scale, so rounding noise of a constant frame does not count as structure.
    structureShare = regionVar > (full * 1e-4) ** 2 ? Math.min(1, Math.sqrt(Math.max(0, blockVar) / regionVar)) : 0;
  }

  // Field: the bounding box of rows and columns with enough non-black samples.
  const black = lowBin / binScale + FIELD_LEVEL * full;
  const colCount = new Uint32Array(gw);
  const rowCount = new Uint32Array(gh);
  for (let gy = 0, k = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++, k++) {
      if (grid[k]! > black) {
        colCount[gx]!++;
        rowCount[gy]!++;
      }
    }
  }
  const [c0, c1] = span(colCount, Math.max(2, Math.ceil(0.02 * gh)));
  const [r0, r1] = span(rowCount, Math.max(2, Math.ceil(0.02 * gw)));
  // Sizes in the file's pixels, also for a frame decoded at reduced resolution: the minimum
  // side is a property of the radiograph, not of how far the decoder shrank it.
  const file = image.fullSize ?? { width, height };
  const fieldWidth = c1 < c0 ? 0 : Math.min(file.width, Math.round((c1 - c0 + 1) * sx * (file.width / width)));
  const fieldHeight = r1 < r0 ? 0 : Math.min(file.height, Math.round((r1 - r0 + 1) * sy * (file.height / height)));

  const round = (value: number): number => Math.round(value * 1e5) / 1e5;
  return {
    width: file.width,
    height: file.height,
    samples: n,
    meanLevel: round(mean / full),
    stdLevel: round(std / full),
    lowLevel: round(lowBin * binWidth),
    highLevel: round(highBin * binWidth),
    dynamicRange: round((highBin - lowBin) * binWidth),
    clippedHigh: round(high / n),
    clippedLow: round(low / n),
    structureShare: round(structureShare),
    fieldWidth,
    fieldHeight,
    fieldShare: round((fieldWidth * fieldHeight) / (file.width * file.height)),
    colourfulness: round(image.colourfulness ?? 0),
  };
}

function sampleGrid16(pixels: Uint16Array, width: number, ox: number, oy: number, sx: number, sy: number, gw: number, gh: number, grid: Uint16Array): void {
  for (let gy = 0, k = 0; gy < gh; gy++) {
    const row = (oy + gy * sy) * width + ox;
    for (let gx = 0; gx < gw; gx++, k++) grid[k] = pixels[row + gx * sx]!;
  }
}

function sampleGrid8(pixels: Uint8Array, width: number, ox: number, oy: number, sx: number, sy: number, gw: number, gh: number, grid: Uint16Array): void {
  for (let gy = 0, k = 0; gy < gh; gy++) {
    const row = (oy + gy * sy) * width + ox;
    for (let gx = 0; gx < gw; gx++, k++) grid[k] = pixels[row + gx * sx]!;
  }
}

function percentileBin(histogram: Uint32Array, n: number, q: number): number {
  const target = q * n;
  let cumulative = 0;
  for (let b = 0; b < histogram.length; b++) {
    cumulative += histogram[b]!;
    if (cumulative >= target) return b;
  }
  return histogram.length - 1;
}

/** First and last index with at least `min` counts; [0, -1] when none. */
function span(counts: Uint32Array, min: number): [number, number] {
  let first = -1;
  let last = -1;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i]! >= min) {
      if (first < 0) first = i;
      last = i;
    }
  }
  return first < 0 ? [0, -1] : [first, last];
}

/**
 * The verdict: the first failing check, in the order size, colour, blank, field, clipping,
 * contrast: the most basic reason first (an all-black frame is blank, not "clipped to black";
 * a small picture in a black frame is too small, not burnt out). The field is judged only on
 * frames with the contrast to tell black from not black (12-bit data in a 16-bit file is low
 * contrast, not a small field).
 */
export function assessQuality(image: DecodedImage, thresholds: QualityThresholds): QualityVerdict {
  const m = measureQuality(image);
  const fail = (code: QualityCode, reason: string): QualityVerdict => ({ ok: false, code, reason, measures: m });
  const t = thresholds;

  if (Math.min(m.width, m.height) < t.minSidePx) {
    return fail(ErrorCode.QUALITY_TOO_SMALL, `image too small: ${m.width}×${m.height} px, a radiograph needs at least ${t.minSidePx} px on its short side (quality.minSidePx)`);
  }
  if (m.colourfulness > t.maxColourfulness) {
    return fail(
      ErrorCode.QUALITY_COLOUR,
      `colour photograph, not a radiograph: mean chroma ${pct(m.colourfulness)} of full scale, over ${pct(t.maxColourfulness, 0)} (quality.maxColourfulness)`,
    );
  }
  if (m.dynamicRange < t.blankMaxRange) {
    return fail(
      ErrorCode.QUALITY_BLANK,
      `blank or uniform frame: the grey levels (p1–p99) span ${pct(m.dynamicRange)} of full scale, under ${pct(t.blankMaxRange)} (quality.blankMaxRange); mean level ${pct(m.meanLevel)}`,
    );
  }
  if (m.structureShare < t.minStructureShare) {
    return fail(
      ErrorCode.QUALITY_BLANK,
      `blank frame of noise: only ${pct(m.structureShare, 0)} of its variation is structure larger than a few pixels, under ${pct(t.minStructureShare, 0)} (quality.minStructureShare)`,
    );
  }
  if (m.dynamicRange >= t.minDynamicRange && m.fieldShare < t.minFieldShare) {
    return fail(
      ErrorCode.QUALITY_TOO_SMALL,
      `image too small: only a ${m.fieldWidth}×${m.fieldHeight} px region of the ${m.width}×${m.height} frame is not black, ${pct(m.fieldShare)} of it, under ${pct(t.minFieldShare, 0)} (quality.minFieldShare)`,
    );
  }
  if (m.clippedHigh > t.maxClippedHigh) {
    return fail(
      ErrorCode.QUALITY_SATURATED,
      `saturated: ${pct(m.clippedHigh)} of the frame is at full white, over ${pct(t.maxClippedHigh, 0)} (quality.maxClippedHigh)`,
    );
  }
  if (m.clippedLow > t.maxClippedLow) {
    return fail(
      ErrorCode.QUALITY_SATURATED,
      `burnt out: ${pct(m.clippedLow)} of the frame is at black, over ${pct(t.maxClippedLow, 0)} (quality.maxClippedLow)`,
    );
  }
  if (m.dynamicRange < t.minDynamicRange) {
    return fail(
      ErrorCode.QUALITY_LOW_CONTRAST,
      `too little contrast: the grey levels (p1–p99) span ${pct(m.dynamicRange)} of the ${image.bitsPerSample}-bit range, under ${pct(t.minDynamicRange, 0)} (quality.minDynamicRange)`,
    );
  }
  return { ok: true, measures: m };
}

/** The gate as a pipeline stage: the measures when the image passes, else ImageRejectedError with the code. */
export function requireQuality(image: DecodedImage, thresholds: QualityThresholds): QualityMeasures {
  const verdict = assessQuality(image, thresholds);
  if (verdict.ok) return verdict.measures;
  const code: ErrorCodeValue = verdict.code;
  // A refused DICOM object keeps its (non-identifying) header facts for history, as the decoder's refusals do.
  throw new ImageRejectedError(code, verdict.reason, { details: { quality: verdict.measures, ...(image.dicom ? { dicom: image.dicom } : {}) } });
}
