import type { Canvas } from './canvas.js';
import type { Imaging } from './params.js';

// 5×7 glyphs; only the two letters a side marker needs.
const GLYPHS: Record<'L' | 'R', readonly string[]> = {
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  R: ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'],
};

/**
 * The side marker, burned in after processing: a solid block with the letter in the
 * opposite shade, upright whichever way the patient faces.
 */
export function drawMarker(canvas: Canvas, marker: Imaging['marker']): void {
  const { width, height, data } = canvas;
  const cell = Math.max(1, Math.round(Math.min(width, height) / 110));
  const pad = 2;
  const blockW = (5 + 2 * pad) * cell;
  const blockH = (7 + 2 * pad) * cell;
  const x0 = marker.corner === 0 || marker.corner === 3 ? marker.margin : width - marker.margin - blockW;
  const y0 = marker.corner < 2 ? marker.margin : height - marker.margin - blockH;
  const background = marker.light ? 0.92 : 0.04;
  const ink = marker.light ? 0.04 : 0.96;
  const glyph = GLYPHS[marker.letter];
  for (let by = 0; by < blockH; by++) {
    const y = y0 + by;
    if (y < 0 || y >= height) continue;
    const gy = Math.floor(by / cell) - pad;
    const line = glyph[gy];
    for (let bx = 0; bx < blockW; bx++) {
      const x = x0 + bx;
      if (x < 0 || x >= width) continue;
      const gx = Math.floor(bx / cell) - pad;
      data[y * width + x] = line !== undefined && line[gx] === '#' ? ink : background;
    }
  }
}
