/**
 * How far a codec may reduce a frame while decoding it: JPEG 2000 by dropping wavelet
 * resolution levels, JPEG by libjpeg-turbo's DCT scaling. Each step halves both sides; the
 * decoder takes as many as keep the short side at least `minShortSide` (docs/dicom.md).
 */

/** Halvings (0 = full resolution) that keep ceil(side / 2^k) ≥ minShortSide on both sides, at most `maxSteps`. */
export function reductionSteps(rows: number, columns: number, minShortSide: number | undefined, maxSteps: number): number {
  // The sides shrink as the divisor grows, so the largest power of two within the box factor is
  // the largest halving that keeps them.
  return Math.min(maxSteps, Math.floor(Math.log2(boxFactor(rows, columns, minShortSide))));
}

/**
 * The integer box a full-size frame may be averaged down by: the largest k that keeps
 * ceil(side / k) ≥ minShortSide on both sides (1: none). For frames no codec could decode small.
 */
export function boxFactor(rows: number, columns: number, minShortSide: number | undefined): number {
  if (minShortSide === undefined) return 1;
  let factor = 1;
  while (Math.min(Math.ceil(rows / (factor + 1)), Math.ceil(columns / (factor + 1))) >= minShortSide) factor++;
  return factor;
}
