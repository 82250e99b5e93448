import type { RawSamples } from './codecs.js';
import { displayTable, type PixelLayout, type PixelTransforms } from './pixels.js';

/**
 * renderGray and a `factor` × `factor` box average in one pass: each raw word goes through the
 * display table (so a window's clipping and MONOCHROME1 act per pixel, as at full size) and
 * into its block's sum; no full-size display image is made. Edge blocks average the pixels
 * they have. For frames that had to be decoded in full (uncompressed, lossless) but that the
 * model sees at 224×224: the later stages (quality gate, Lanczos resize) then work on a frame
 * about the size a JPEG 2000 reduced decode gives.
 */
export function renderGrayBoxed(raw: RawSamples, layout: PixelLayout, transforms: PixelTransforms, factor: number): { pixels: Uint16Array; rows: number; columns: number } {
  const table = displayTable(raw, layout, transforms);
  const { rows, columns } = layout;
  const outRows = Math.ceil(rows / factor);
  const outColumns = Math.ceil(columns / factor);
  const pixels = new Uint16Array(outRows * outColumns);
  // 65535 × factor² stays under 2^32 for any factor a 16-bit side allows (≤ 256).
  const sums = new Uint32Array(outColumns);
  for (let band = 0; band < outRows; band++) {
    sums.fill(0);
    const firstRow = band * factor;
    const bandRows = Math.min(factor, rows - firstRow);
    for (let row = firstRow; row < firstRow + bandRows; row++) addRow(raw, row * columns, columns, factor, table, sums);
    for (let block = 0; block < outColumns; block++) {
      const blockColumns = Math.min(factor, columns - block * factor);
      pixels[band * outColumns + block] = Math.round(sums[block]! / (bandRows * blockColumns));
    }
  }
  return { pixels, rows: outRows, columns: outColumns };
}

/** One raw row's display values, added into the sums of the blocks they fall in: the whole blocks first, then the edge one. */
function addRow(raw: RawSamples, start: number, columns: number, factor: number, table: Uint16Array, sums: Uint32Array): void {
  const wholeBlocks = Math.floor(columns / factor);
  let i = start;
  for (let block = 0; block < wholeBlocks; block++) {
    let sum = 0;
    for (const blockStop = i + factor; i < blockStop; i++) sum += table[raw[i]!]!;
    sums[block] = sums[block]! + sum;
  }
  if (wholeBlocks * factor === columns) return;
  let sum = 0;
  for (const stop = start + columns; i < stop; i++) sum += table[raw[i]!]!;
  sums[wholeBlocks] = sums[wholeBlocks]! + sum;
}
