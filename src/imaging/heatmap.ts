import sharp from 'sharp';
import type { ActivationMap } from '../model/inference.js';
import { inputMapping } from './geometry.js';
import type { DecodedImage } from './image.js';
import type { PreprocessSpec } from './preprocess.js';

/** Where the map is hottest, in image pixel coordinates (for localisation checks). */
export function activationPeak(cam: ActivationMap, spec: PreprocessSpec, imageWidth: number, imageHeight: number): { x: number; y: number } {
  let best = 0;
  for (let i = 1; i < cam.data.length; i++) if (cam.data[i]! > cam.data[best]!) best = i;
  const mapping = inputMapping(spec, imageWidth, imageHeight);
  // Centre of the winning cell, in model-input pixels, then back through the resize.
  const inputX = ((best % cam.width) + 0.5) * (mapping.inputWidth / cam.width);
  const inputY = (Math.floor(best / cam.width) + 0.5) * (mapping.inputHeight / cam.height);
  return { x: (inputX - mapping.offsetX) / mapping.scaleX, y: (inputY - mapping.offsetY) / mapping.scaleY };
}

/** A blue → cyan → yellow → red ramp, readable on a gray radiograph. */
function heatColour(v: number): [number, number, number] {
  const stops: Array<[number, number, number]> = [
    [0, 0, 160],
    [0, 200, 255],
    [255, 230, 0],
    [230, 0, 0],
  ];
  const x = Math.min(0.9999, Math.max(0, v)) * (stops.length - 1);
  const i = Math.floor(x);
  const f = x - i;
  const [a, b] = [stops[i]!, stops[i + 1]!];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** The ramp at 256 levels, RGB interleaved: one lookup per pixel instead of arrays per pixel. */
const RAMP_LEVELS = 256;
const RAMP = Float32Array.from({ length: RAMP_LEVELS * 3 }, (_, i) => heatColour(Math.floor(i / 3) / (RAMP_LEVELS - 1))[i % 3]!);

export type HeatmapFormat = 'jpeg' | 'png' | 'webp';

/** The file name extension for each format. */
export const HEATMAP_EXTENSION: Record<HeatmapFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp' };

/**
 * The radiograph (at most `maxSide` pixels on its long side) with the class-activation map laid
 * over it in colour, transparent where activation is low. The map is taken back through the
 * model's resize policy, so it sits on the anatomy it was computed from. JPEG by default: it
 * encodes several times faster than PNG at this size (docs/benchmarks.md), and the overlay is a
 * picture to look at, not data.
 */
export async function heatmapOverlay(image: DecodedImage, cam: ActivationMap, spec: PreprocessSpec, options: { format?: HeatmapFormat; maxSide?: number } = {}): Promise<Buffer> {
  const { format = 'jpeg', maxSide = 768 } = options;
  const scale = Math.min(1, maxSide / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const base = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 1 } })
    .resize(width, height, { fit: 'fill' })
    .toColourspace('b-w')
    .extractChannel(0)
    .raw()
    .toBuffer();

  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const v of cam.data) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  const span = high - low || 1;
  const mapping = inputMapping(spec, image.width, image.height);
  const cellX = cam.width / mapping.inputWidth;
  const cellY = cam.height / mapping.inputHeight;
  const sample = (u: number, v: number): number => {
    // Bilinear, clamped at the map's edges.
    const x = Math.min(cam.width - 1, Math.max(0, u - 0.5));
    const y = Math.min(cam.height - 1, Math.max(0, v - 0.5));
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const x1 = Math.min(cam.width - 1, x0 + 1);
    const y1 = Math.min(cam.height - 1, y0 + 1);
    const fx = x - x0;
    const fy = y - y0;
    const row0 = y0 * cam.width;
    const row1 = y1 * cam.width;
    const { data } = cam;
    return (data[row0 + x0]! * (1 - fx) + data[row0 + x1]! * fx) * (1 - fy) + (data[row1 + x0]! * (1 - fx) + data[row1 + x1]! * fx) * fy;
  };

  // Map coordinates depend on the column alone (u) or the row alone (v): computed once each.
  const us = Float64Array.from({ length: width }, (_, px) => (((px + 0.5) / scale) * mapping.scaleX + mapping.offsetX) * cellX);
  const vs = Float64Array.from({ length: height }, (_, py) => (((py + 0.5) / scale) * mapping.scaleY + mapping.offsetY) * cellY);
  const out = Buffer.alloc(width * height * 3);
  for (let py = 0; py < height; py++) {
    const v = vs[py]!;
    for (let px = 0; px < width; px++) {
      const u = us[px]!;
      const inside = u >= 0 && v >= 0 && u <= cam.width && v <= cam.height;
      const value = inside ? Math.min(1, Math.max(0, (sample(u, v) - low) / span)) : 0;
      const alpha = 0.55 * value;
      const level = Math.round(value * (RAMP_LEVELS - 1)) * 3;
      const gray = base[py * width + px]! * (1 - alpha);
      const o = (py * width + px) * 3;
      out[o] = gray + RAMP[level]! * alpha;
      out[o + 1] = gray + RAMP[level + 1]! * alpha;
      out[o + 2] = gray + RAMP[level + 2]! * alpha;
    }
  }
  const overlay = sharp(out, { raw: { width, height, channels: 3 } });
  switch (format) {
    case 'jpeg':
      return overlay.jpeg({ quality: 85 }).toBuffer();
    case 'webp':
      return overlay.webp({ quality: 80, effort: 0 }).toBuffer();
    case 'png':
      return overlay.png().toBuffer();
  }
}
