import type { Canvas } from './canvas.js';
import type { Imaging } from './params.js';
import type { Rng } from './prng.js';

/**
 * Summed attenuation → a displayed radiograph: photons through the patient (with quantum
 * and electronic noise), inverted so bone is bright, then windowed and gamma-corrected.
 * Writes display values 0…1 into the canvas.
 */
export function develop(canvas: Canvas, imaging: Imaging, rng: Rng): void {
  const { data } = canvas;
  const { attenuation, photons, electronic, black, gamma } = imaging;
  const range = imaging.white - black;
  for (let i = 0; i < data.length; i++) {
    let p = Math.exp(-attenuation * data[i]!);
    // Poisson noise has variance ∝ count: relative noise grows where bone blocks photons.
    p += Math.sqrt(p / photons) * rng.normal() + electronic * rng.normal();
    let v = (1 - p - black) / range;
    v = v <= 0 ? 0 : v >= 1 ? 1 : Math.pow(v, gamma);
    data[i] = v;
  }
}

/** Bone gets a fine mottle, so cancellous bone is not a flat fill. */
export function addTexture(bone: Canvas, amplitude: number, cell: number, rng: Rng): void {
  const { width, height, data } = bone;
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const grid = new Float32Array(gw * gh);
  for (let i = 0; i < grid.length; i++) grid[i] = 2 * rng.next() - 1;
  const column = new Int32Array(width);
  const columnFraction = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const gx = x / cell;
    column[x] = Math.floor(gx);
    columnFraction[x] = gx - Math.floor(gx);
  }
  for (let y = 0; y < height; y++) {
    const gy = y / cell;
    const row = Math.floor(gy);
    const fy = gy - row;
    const top = row * gw;
    const bottom = top + gw;
    const offset = y * width;
    for (let x = 0; x < width; x++) {
      const value = data[offset + x]!;
      if (value === 0) continue;
      const c = column[x]!;
      const fx = columnFraction[x]!;
      const upper = grid[top + c]! + (grid[top + c + 1]! - grid[top + c]!) * fx;
      const lower = grid[bottom + c]! + (grid[bottom + c + 1]! - grid[bottom + c]!) * fx;
      data[offset + x] = value * (1 + amplitude * (upper + (lower - upper) * fy));
    }
  }
}

/** Collimator shutters: dark borders with a soft edge of about a pixel and a half. */
export function collimate(canvas: Canvas, imaging: Imaging, rng: Rng): void {
  const { width, height, data } = canvas;
  const { left, right, top, bottom, level } = imaging.collimation;
  if (left + right + top + bottom === 0) return;
  const edge = (distanceInside: number): number => Math.min(1, Math.max(0, 0.5 - distanceInside / 1.5));
  const columns = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    columns[x] = Math.max(left > 0 ? edge(x + 0.5 - left) : 0, right > 0 ? edge(width - right - (x + 0.5)) : 0);
  }
  for (let y = 0; y < height; y++) {
    const rowMask = Math.max(top > 0 ? edge(y + 0.5 - top) : 0, bottom > 0 ? edge(height - bottom - (y + 0.5)) : 0);
    const offset = y * width;
    for (let x = 0; x < width; x++) {
      const m = Math.max(rowMask, columns[x]!);
      if (m === 0) continue;
      const shade = Math.max(0, level + 0.008 * rng.normal());
      data[offset + x] = data[offset + x]! * (1 - m) + shade * m;
    }
  }
}
