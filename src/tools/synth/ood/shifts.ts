/**
 * in-distribution: fresh phantoms with an ordinary acquisition shift: the film is still a
 * lateral c-spine and the model must still classify it, so an OOD detector that rejects
 * these is too strict. Each shift starts from the same fresh phantom (case i), so its
 * effect on the model can be measured pair by pair against `fresh`.
 */
import { createCanvas, gaussianBlur } from '../canvas.js';
import type { Rng } from '../prng.js';
import type { FreshPhantom, ItemContext, OodItem } from './item.js';
import { greyPixels, greyToFloat, toPixels, type FloatImage, type Pixels } from './picture.js';

/** What a shift does to the pixels, and how it describes its settings in `source`. */
type Shift = (fresh: FreshPhantom, rng: Rng) => { pixels: Pixels; detail: string; format?: 'jpg'; quality?: number };

function shiftMaker(name: string, shift: Shift): (context: ItemContext) => OodItem {
  return ({ phantom, rng }) => {
    const fresh = phantom();
    const { pixels, detail, format = 'png', quality } = shift(fresh, rng);
    return {
      variant: fresh.label,
      picture: pixels,
      format,
      ...(quality === undefined ? {} : { quality }),
      label: fresh.label,
      source: `${fresh.source}; ${name}${detail ? ` ${detail}` : ''}`,
    };
  };
}

function float(fresh: FreshPhantom): FloatImage {
  return greyToFloat(fresh.width, fresh.height, fresh.samples);
}

export const makeFresh = shiftMaker('unchanged', (fresh) => ({ pixels: greyPixels(fresh.width, fresh.height, fresh.samples), detail: '' }));

/** Left–right mirror: the patient facing the other way (the training set has both, 70/30). */
export const makeMirror = shiftMaker('mirror', (fresh) => {
  const { width, height, samples } = fresh;
  const out = new Uint8Array(samples.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = samples[y * width + (width - 1 - x)]!;
  return { pixels: greyPixels(width, height, out), detail: '' };
});

/** Unsharp detector or motion: Gaussian blur, σ 1–2 px at 256 px width. */
export const makeBlur = shiftMaker('blur', (fresh, rng) => {
  const sigma = rng.uniform(1, 2) * (fresh.width / 256);
  const image = float(fresh);
  const canvas = createCanvas(fresh.width, fresh.height);
  canvas.data.set(image.data);
  gaussianBlur(canvas, sigma);
  return { pixels: toPixels({ ...image, data: canvas.data }), detail: `sigma=${sigma.toFixed(2)}` };
});

/** A low-dose exposure: extra Gaussian noise, σ 2–5 % of the range. */
export const makeNoisy = shiftMaker('noise', (fresh, rng) => {
  const sigma = rng.uniform(0.02, 0.05);
  const image = float(fresh);
  for (let i = 0; i < image.data.length; i++) image.data[i]! += sigma * rng.normal();
  return { pixels: toPixels(image), detail: `sigma=${sigma.toFixed(3)}` };
});

/** Another processing curve: v^γ with γ in 0.7–0.85 or 1.15–1.4 (never close to 1). */
export const makeGamma = shiftMaker('gamma', (fresh, rng) => {
  const gamma = rng.chance(0.5) ? rng.uniform(0.7, 0.85) : rng.uniform(1.15, 1.4);
  const image = float(fresh);
  for (let i = 0; i < image.data.length; i++) image.data[i] = Math.pow(image.data[i]!, gamma);
  return { pixels: toPixels(image), detail: `gamma=${gamma.toFixed(2)}` };
});

/** A photo of the screen sent by phone, or a badly compressed export: JPEG at quality 25. */
export const makeJpeg = shiftMaker('jpeg', (fresh) => ({
  pixels: greyPixels(fresh.width, fresh.height, fresh.samples),
  detail: 'quality=25',
  format: 'jpg',
  quality: 25,
}));

/**
 * A low-resolution export: box-downsampled by 2–3×, then half the time scaled back up
 * (bilinear) to the original size, half the time left small.
 */
export const makeLowRes = shiftMaker('lowres', (fresh, rng) => {
  const factor = rng.uniform(2, 3);
  const back = rng.chance(0.5);
  const image = float(fresh);
  const small = resize(image, Math.max(8, Math.round(fresh.width / factor)), Math.max(8, Math.round(fresh.height / factor)));
  const out = back ? resize(small, fresh.width, fresh.height) : small;
  return { pixels: toPixels(out), detail: `factor=${factor.toFixed(2)} ${back ? 'upsampled' : 'small'} ${out.width}x${out.height}` };
});

/** The patient or cassette turned: ±3–10° about the centre, bilinear, corners black. */
export const makeRotate = shiftMaker('rotate', (fresh, rng) => {
  const degrees = (rng.chance(0.5) ? -1 : 1) * rng.uniform(3, 10);
  return { pixels: toPixels(rotate(float(fresh), (degrees * Math.PI) / 180)), detail: `degrees=${degrees.toFixed(1)}` };
});

/**
 * Tight collimation: black shutters cutting 5–15 % of the width from the left and the
 * right, and sometimes 0–8 % of the height from top or bottom; soft 1.5 px edges.
 */
export const makeCollimation = shiftMaker('collimation', (fresh, rng) => {
  const { width, height } = fresh;
  const left = rng.uniform(0.05, 0.15) * width;
  const right = rng.uniform(0.05, 0.15) * width;
  const top = rng.chance(0.5) ? rng.uniform(0, 0.08) * height : 0;
  const bottom = rng.chance(0.5) ? rng.uniform(0, 0.08) * height : 0;
  const level = rng.uniform(0, 0.03);
  const image = float(fresh);
  // Coverage of the open field: 1 inside, 0 under a shutter, ramped across 1.5 px.
  const open = (distanceInside: number): number => Math.min(1, Math.max(0, 0.5 + distanceInside / 1.5));
  for (let y = 0; y < height; y++) {
    const rowOpen = Math.min(open(y + 0.5 - top), open(height - bottom - (y + 0.5)));
    for (let x = 0; x < width; x++) {
      const m = Math.min(rowOpen, open(x + 0.5 - left), open(width - right - (x + 0.5)));
      const i = y * width + x;
      image.data[i] = image.data[i]! * m + level * (1 - m);
    }
  }
  const pct = (v: number, of: number): string => ((100 * v) / of).toFixed(0);
  return { pixels: toPixels(image), detail: `left=${pct(left, width)}% right=${pct(right, width)}% top=${pct(top, height)}% bottom=${pct(bottom, height)}%` };
});

/** Area-average when shrinking, bilinear when enlarging; grey images. */
export function resize(image: FloatImage, width: number, height: number): FloatImage {
  const out: FloatImage = { width, height, channels: 1, data: new Float32Array(width * height) };
  const sx = image.width / width;
  const sy = image.height / height;
  if (sx >= 1 && sy >= 1) {
    for (let y = 0; y < height; y++) {
      const y0 = y * sy;
      const y1 = y0 + sy;
      for (let x = 0; x < width; x++) {
        const x0 = x * sx;
        const x1 = x0 + sx;
        let sum = 0;
        let area = 0;
        for (let yy = Math.floor(y0); yy < Math.min(image.height, Math.ceil(y1)); yy++) {
          const wy = Math.min(yy + 1, y1) - Math.max(yy, y0);
          for (let xx = Math.floor(x0); xx < Math.min(image.width, Math.ceil(x1)); xx++) {
            const w = wy * (Math.min(xx + 1, x1) - Math.max(xx, x0));
            sum += w * image.data[yy * image.width + xx]!;
            area += w;
          }
        }
        out.data[y * width + x] = area > 0 ? sum / area : 0;
      }
    }
    return out;
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out.data[y * width + x] = sample(image, (x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5, true);
  }
  return out;
}

/** Turns about the centre; what comes from outside the frame is black (0). */
export function rotate(image: FloatImage, angle: number): FloatImage {
  const { width, height } = image;
  const out: FloatImage = { width, height, channels: 1, data: new Float32Array(width * height) };
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Inverse map: where in the source this output pixel comes from.
      const dx = x - cx;
      const dy = y - cy;
      out.data[y * width + x] = sample(image, cx + cos * dx + sin * dy, cy - sin * dx + cos * dy, false);
    }
  }
  return out;
}

/** Bilinear sample; outside the frame: clamped to the edge, or 0. */
function sample(image: FloatImage, x: number, y: number, clamp: boolean): number {
  const { width, height, data } = image;
  if (!clamp && (x < -0.5 || y < -0.5 || x > width - 0.5 || y > height - 0.5)) return 0;
  const cxp = Math.min(width - 1, Math.max(0, x));
  const cyp = Math.min(height - 1, Math.max(0, y));
  const x0 = Math.floor(cxp);
  const y0 = Math.floor(cyp);
  const x1 = Math.min(width - 1, x0 + 1);
  const y1 = Math.min(height - 1, y0 + 1);
  const fx = cxp - x0;
  const fy = cyp - y0;
  const top = data[y0 * width + x0]! + (data[y0 * width + x1]! - data[y0 * width + x0]!) * fx;
  const bottom = data[y1 * width + x0]! + (data[y1 * width + x1]! - data[y1 * width + x0]!) * fx;
  return top + (bottom - top) * fy;
}
