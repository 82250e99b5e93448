/**
 * Random 2-D fields: the raw material of the noise and photo categories. Natural images
 * have most of their energy at low spatial frequencies (roughly 1/f), which white noise
 * does not; these fields do, so "photos" look like clouds, hills and textures.
 */
import type { Rng } from '../prng.js';

/**
 * Random values on a grid `cell` pixels apart, smoothly interpolated (smoothstep), in
 * −1…1. One octave: blobs about `cell` pixels across.
 */
export function valueNoise(width: number, height: number, cell: number, rng: Rng): Float32Array {
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const grid = new Float32Array(gw * gh);
  for (let i = 0; i < grid.length; i++) grid[i] = 2 * rng.next() - 1;
  // A random sub-cell offset, so octaves do not line up on one lattice.
  const ox = rng.next() * cell;
  const oy = rng.next() * cell;
  const out = new Float32Array(width * height);
  const smooth = (t: number): number => t * t * (3 - 2 * t);
  for (let y = 0; y < height; y++) {
    const gy = (y + oy) / cell;
    const row = Math.floor(gy);
    const fy = smooth(gy - row);
    for (let x = 0; x < width; x++) {
      const gx = (x + ox) / cell;
      const col = Math.floor(gx);
      const fx = smooth(gx - col);
      const a = grid[row * gw + col]!;
      const b = grid[row * gw + col + 1]!;
      const c = grid[(row + 1) * gw + col]!;
      const d = grid[(row + 1) * gw + col + 1]!;
      const top = a + (b - a) * fx;
      out[y * width + x] = top + (c + (d - c) * fx - top) * fy;
    }
  }
  return out;
}

export interface FractalOptions {
  /** Size of the largest blobs, pixels. */
  cell: number;
  octaves: number;
  /** Amplitude of each octave relative to the one before (0.5 ≈ 1/f). */
  persistence: number;
}

/** Octaves of value noise (fractional Brownian motion), stretched to 0…1. */
export function fractalNoise(width: number, height: number, options: FractalOptions, rng: Rng): Float32Array {
  const out = new Float32Array(width * height);
  let amplitude = 1;
  let cell = options.cell;
  for (let octave = 0; octave < options.octaves && cell >= 1; octave++) {
    const layer = valueNoise(width, height, cell, rng);
    for (let i = 0; i < out.length; i++) out[i]! += amplitude * layer[i]!;
    amplitude *= options.persistence;
    cell /= 2;
  }
  return normalise(out);
}

/**
 * Diamond–square plasma ("fractal clouds"), stretched to 0…1. `roughness` 0.4–0.7: lower
 * is smoother. Drawn on a (2^n + 1)² lattice and cropped.
 */
export function plasma(width: number, height: number, roughness: number, rng: Rng): Float32Array {
  let size = 1;
  while (size < Math.max(width, height)) size *= 2;
  const n = size + 1;
  const grid = new Float32Array(n * n);
  const at = (x: number, y: number): number => grid[y * n + x]!;
  for (const [x, y] of [[0, 0], [size, 0], [0, size], [size, size]] as const) grid[y * n + x] = rng.next();
  let step = size;
  let scale = 1;
  while (step > 1) {
    const half = step / 2;
    for (let y = half; y < n; y += step) {
      for (let x = half; x < n; x += step) {
        const mean = (at(x - half, y - half) + at(x + half, y - half) + at(x - half, y + half) + at(x + half, y + half)) / 4;
        grid[y * n + x] = mean + scale * (rng.next() - 0.5);
      }
    }
    for (let y = 0; y < n; y += half) {
      for (let x = (y / half) % 2 === 0 ? half : 0; x < n; x += step) {
        let sum = 0;
        let count = 0;
        for (const [dx, dy] of [[-half, 0], [half, 0], [0, -half], [0, half]] as const) {
          const px = x + dx;
          const py = y + dy;
          if (px < 0 || py < 0 || px >= n || py >= n) continue;
          sum += at(px, py);
          count++;
        }
        grid[y * n + x] = sum / count + scale * (rng.next() - 0.5);
      }
    }
    step = half;
    scale *= roughness;
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = at(x, y);
  return normalise(out);
}

/** Stretches values to 0…1 in place (a flat field becomes 0.5). */
export function normalise(data: Float32Array): Float32Array {
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const range = max - min;
  for (let i = 0; i < data.length; i++) data[i] = range > 0 ? (data[i]! - min) / range : 0.5;
  return data;
}

/** A colour ramp stop: position 0…1 and an RGB colour 0…1. */
export type Stop = readonly [number, number, number, number];

/** Maps a 0…1 field through a colour ramp into interleaved RGB. */
export function colourise(field: Float32Array, stops: readonly Stop[], out: Float32Array = new Float32Array(field.length * 3)): Float32Array {
  for (let i = 0; i < field.length; i++) {
    const t = field[i]!;
    let k = 0;
    while (k < stops.length - 2 && t > stops[k + 1]![0]) k++;
    const a = stops[k]!;
    const b = stops[k + 1] ?? a;
    const span = b[0] - a[0];
    const f = span > 0 ? Math.min(1, Math.max(0, (t - a[0]) / span)) : 0;
    out[i * 3] = a[1] + (b[1] - a[1]) * f;
    out[i * 3 + 1] = a[2] + (b[2] - a[2]) * f;
    out[i * 3 + 2] = a[3] + (b[3] - a[3]) * f;
  }
  return out;
}
