import sharp from 'sharp';
import type { ActivationMap } from '../model/inference.js';
import { inputMapping, type InputMapping } from './geometry.js';
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

/** Activation levels of the enlarged map; blending is then two lookups and a multiply-add per channel. */
const RAMP_LEVELS = 256;
const OPACITY = 0.55;
/** Per level: how much of the gray stays (1 − alpha). */
const KEEP = Float32Array.from({ length: RAMP_LEVELS }, (_, level) => 1 - (OPACITY * level) / (RAMP_LEVELS - 1));
/** Per level, RGB interleaved: the ramp's colour times alpha. */
const TINT = Float32Array.from({ length: RAMP_LEVELS * 3 }, (_, i) => {
  const level = Math.floor(i / 3);
  return heatColour(level / (RAMP_LEVELS - 1))[i % 3]! * ((OPACITY * level) / (RAMP_LEVELS - 1));
});

export type HeatmapFormat = 'jpeg' | 'png' | 'webp';

/** The file name extension for each format. */
export const HEATMAP_EXTENSION: Record<HeatmapFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp' };

/**
 * The radiograph (at most `maxSide` pixels on its long side) with the class-activation map laid
 * over it in colour, transparent where activation is low. The map is taken back through the
 * model's resize policy, so it sits on the anatomy it was computed from. libvips enlarges the
 * map (bilinear) and resizes the image; the blend is two table lookups per pixel. JPEG by
 * default: it encodes several times faster than PNG at this size (docs/benchmarks.md), and the
 * overlay is a picture to look at, not data.
 */
export async function heatmapOverlay(image: DecodedImage, cam: ActivationMap, spec: PreprocessSpec, options: { format?: HeatmapFormat; maxSide?: number } = {}): Promise<Buffer> {
  const { format = 'jpeg', maxSide = 768 } = options;
  const scale = Math.min(1, maxSide / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const [base, layer] = await Promise.all([
    sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 1 } }).resize(width, height, { fit: 'fill' }).toColourspace('b-w').extractChannel(0).raw().toBuffer(),
    activationLayer(cam, inputMapping(spec, image.width, image.height), scale, width, height),
  ]);
  const out = Buffer.alloc(width * height * 3);
  for (let i = 0; i < base.length; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = base[i]!;
  if (layer) {
    for (let y = 0; y < layer.height; y++) {
      for (let x = 0; x < layer.width; x++) {
        const level = layer.levels[y * layer.width + x]!;
        const o = ((layer.top + y) * width + layer.left + x) * 3;
        const keep = KEEP[level]!;
        out[o] = out[o]! * keep + TINT[level * 3]!;
        out[o + 1] = out[o + 1]! * keep + TINT[level * 3 + 1]!;
        out[o + 2] = out[o + 2]! * keep + TINT[level * 3 + 2]!;
      }
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

/**
 * The map's activation levels (0…255, normalised) over the part of the output image that the
 * model's input covered, enlarged bilinearly by libvips; undefined when that part lies outside
 * the image. With letterbox the input reaches past the image, and is cut to it.
 */
async function activationLayer(cam: ActivationMap, mapping: InputMapping, scale: number, width: number, height: number): Promise<{ levels: Buffer; width: number; height: number; left: number; top: number } | undefined> {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const v of cam.data) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  const span = high - low || 1;
  const levels = Uint8Array.from(cam.data, (v) => Math.round(((v - low) / span) * (RAMP_LEVELS - 1)));
  const left = Math.round((-mapping.offsetX / mapping.scaleX) * scale);
  const top = Math.round((-mapping.offsetY / mapping.scaleY) * scale);
  const layerWidth = Math.max(1, Math.round((mapping.inputWidth / mapping.scaleX) * scale));
  const layerHeight = Math.max(1, Math.round((mapping.inputHeight / mapping.scaleY) * scale));
  const x0 = Math.max(0, left);
  const y0 = Math.max(0, top);
  const x1 = Math.min(width, left + layerWidth);
  const y1 = Math.min(height, top + layerHeight);
  if (x1 <= x0 || y1 <= y0) return undefined;
  const enlarged = await sharp(levels, { raw: { width: cam.width, height: cam.height, channels: 1 } })
    .resize(layerWidth, layerHeight, { fit: 'fill', kernel: 'linear' })
    .extract({ left: x0 - left, top: y0 - top, width: x1 - x0, height: y1 - y0 })
    // sharp would hand a one-band raw image back as sRGB.
    .extractChannel(0)
    .raw()
    .toBuffer();
  return { levels: enlarged, width: x1 - x0, height: y1 - y0, left: x0, top: y0 };
}
