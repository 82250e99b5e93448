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

/**
 * The radiograph (at most `maxSide` pixels on its long side) with the class-activation map laid
 * over it in colour, transparent where activation is low. The map is taken back through the
 * model's resize policy, so it sits on the anatomy it was computed from.
 */
export async function heatmapOverlay(image: DecodedImage, cam: ActivationMap, spec: PreprocessSpec, maxSide = 768): Promise<Buffer> {
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
    const at = (cx: number, cy: number) => cam.data[cy * cam.width + cx]!;
    return (at(x0, y0) * (1 - fx) + at(x1, y0) * fx) * (1 - fy) + (at(x0, y1) * (1 - fx) + at(x1, y1) * fx) * fy;
  };

  const out = Buffer.alloc(width * height * 3);
  for (let py = 0; py < height; py++) {
    for (let px = 0; px < width; px++) {
      const imageX = (px + 0.5) / scale;
      const imageY = (py + 0.5) / scale;
      const u = (imageX * mapping.scaleX + mapping.offsetX) * cellX;
      const v = (imageY * mapping.scaleY + mapping.offsetY) * cellY;
      const inside = u >= 0 && v >= 0 && u <= cam.width && v <= cam.height;
      const value = inside ? (sample(u, v) - low) / span : 0;
      const alpha = 0.55 * value;
      const [r, g, b] = heatColour(value);
      const gray = base[py * width + px]!;
      const o = (py * width + px) * 3;
      out[o] = gray * (1 - alpha) + r * alpha;
      out[o + 1] = gray * (1 - alpha) + g * alpha;
      out[o + 2] = gray * (1 - alpha) + b * alpha;
    }
  }
  return sharp(out, { raw: { width, height, channels: 3 } }).png().toBuffer();
}
