import sharp, { type OverlayOptions } from 'sharp';
import { PHANTOM_LABELS, type PhantomLabel } from './lesion.js';
import { phantomParams } from './params.js';
import { caseSeed } from './prng.js';
import { quantise } from './quantise.js';
import { renderPhantom } from './render.js';

export interface MontageOptions {
  seed: number;
  /** Examples per class; one column per class. */
  rows?: number;
  width?: number;
  height?: number;
  /** Draw the label's box in each abnormal tile. */
  boxes?: boolean;
  /** Posterise to this many grey levels; noise makes a full 8-bit montage large to commit. */
  greyLevels?: number;
}

/**
 * A grid of phantoms, one column per class (normal, fracture, dislocation), as an 8-bit
 * PNG: for the docs and for eyeballing a change to the renderer.
 */
export async function renderMontage(options: MontageOptions): Promise<Buffer> {
  const { seed, rows = 2, width = 256, height = 320, boxes = false, greyLevels = 256 } = options;
  const gap = 4;
  const tiles: OverlayOptions[] = [];
  for (let row = 0; row < rows; row++) {
    for (const [column, label] of PHANTOM_LABELS.entries()) {
      const index = row * PHANTOM_LABELS.length + column;
      const tile = tileFor(caseSeed(seed, index), label, width, height, boxes);
      if (greyLevels < 256) posterise(tile, greyLevels);
      const png = await sharp(tile, { raw: { width, height, channels: 1 } }).png().toBuffer();
      tiles.push({ input: png, left: gap + column * (width + gap), top: gap + row * (height + gap) });
    }
  }
  return sharp({
    create: { width: gap + PHANTOM_LABELS.length * (width + gap), height: gap + rows * (height + gap), channels: 3, background: { r: 255, g: 255, b: 255 } },
  })
    .composite(tiles)
    .toColourspace('b-w')
    .png({ compressionLevel: 9 })
    .toBuffer();
}

function tileFor(seed: number, label: PhantomLabel, width: number, height: number, boxes: boolean): Uint8Array {
  const phantom = renderPhantom(phantomParams(seed, label, width, height));
  const pixels = quantise(phantom.pixels, 8) as Uint8Array;
  const box = phantom.box;
  if (boxes && box !== undefined) {
    // A dotted outline stays visible over both bright bone and dark soft tissue.
    for (let x = box.x; x < box.x + box.w; x++) {
      for (const y of [box.y, box.y + box.h - 1]) pixels[y * width + x] = x % 2 === 0 ? 255 : 0;
    }
    for (let y = box.y; y < box.y + box.h; y++) {
      for (const x of [box.x, box.x + box.w - 1]) pixels[y * width + x] = y % 2 === 0 ? 255 : 0;
    }
  }
  return pixels;
}

function posterise(pixels: Uint8Array, levels: number): void {
  const step = 255 / (levels - 1);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(Math.round(pixels[i]! / step) * step);
}
