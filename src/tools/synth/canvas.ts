import type { Polygon } from './geometry.js';

/** A gray float image; shapes are added into it, as attenuation adds up along an X-ray. */
export interface Canvas {
  width: number;
  height: number;
  data: Float32Array;
}

export function createCanvas(width: number, height: number): Canvas {
  return { width, height, data: new Float32Array(width * height) };
}

/** Vertical samples per pixel row; horizontal coverage is computed exactly. */
const SUBROWS = 4;

// Scratch for span crossings, grown on demand: no allocation per scan line.
let crossings = new Float64Array(64);

/**
 * Adds `value × coverage` to every pixel the polygon covers (even–odd rule). Coverage is
 * anti-aliased: SUBROWS scan lines per pixel row, exact fractional coverage along each.
 */
export function fillPolygon(canvas: Canvas, points: Polygon, value: number): void {
  const n = points.length >> 1;
  if (n < 3 || value === 0) return;
  const { width, height, data } = canvas;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 1; i < points.length; i += 2) {
    const y = points[i]!;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  const rowStart = Math.max(0, Math.floor(minY));
  const rowEnd = Math.min(height - 1, Math.ceil(maxY));
  if (crossings.length < n) crossings = new Float64Array(n * 2);
  const weight = value / SUBROWS;
  for (let row = rowStart; row <= rowEnd; row++) {
    const offset = row * width;
    for (let s = 0; s < SUBROWS; s++) {
      const sy = row + (s + 0.5) / SUBROWS;
      let count = 0;
      let x0 = points[(n - 1) * 2]!;
      let y0 = points[(n - 1) * 2 + 1]!;
      for (let i = 0; i < n; i++) {
        const x1 = points[i * 2]!;
        const y1 = points[i * 2 + 1]!;
        if ((y0 <= sy && y1 > sy) || (y1 <= sy && y0 > sy)) {
          crossings[count++] = x0 + ((sy - y0) * (x1 - x0)) / (y1 - y0);
        }
        x0 = x1;
        y0 = y1;
      }
      if (count < 2) continue;
      // Insertion sort: a scan line crosses a handful of edges.
      for (let i = 1; i < count; i++) {
        const v = crossings[i]!;
        let j = i - 1;
        while (j >= 0 && crossings[j]! > v) {
          crossings[j + 1] = crossings[j]!;
          j--;
        }
        crossings[j + 1] = v;
      }
      for (let k = 0; k + 1 < count; k += 2) {
        const xa = Math.max(0, crossings[k]!);
        const xb = Math.min(width, crossings[k + 1]!);
        if (xb <= xa) continue;
        const ia = Math.floor(xa);
        const ib = Math.floor(xb);
        if (ia === ib) {
          data[offset + ia]! += (xb - xa) * weight;
          continue;
        }
        data[offset + ia]! += (ia + 1 - xa) * weight;
        for (let x = ia + 1; x < ib; x++) data[offset + x]! += weight;
        if (ib < width) data[offset + ib]! += (xb - ib) * weight;
      }
    }
  }
}

/** Separable Gaussian blur in place; edges are clamped so borders do not darken. */
export function gaussianBlur(canvas: Canvas, sigma: number): void {
  if (sigma <= 0.05) return;
  const radius = Math.max(1, Math.ceil(sigma * 3));
  const kernel = new Float32Array(radius * 2 + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const w = Math.exp(-(i * i) / (2 * sigma * sigma));
    kernel[i + radius] = w;
    sum += w;
  }
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= sum;
  const { width, height, data } = canvas;
  const line = new Float32Array(Math.max(width, height) + 2 * radius);
  for (let y = 0; y < height; y++) {
    const offset = y * width;
    for (let i = 0; i < radius; i++) line[i] = data[offset]!;
    for (let x = 0; x < width; x++) line[x + radius] = data[offset + x]!;
    for (let i = 0; i < radius; i++) line[width + radius + i] = data[offset + width - 1]!;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = 0; k < kernel.length; k++) acc += kernel[k]! * line[x + k]!;
      data[offset + x] = acc;
    }
  }
  for (let x = 0; x < width; x++) {
    for (let i = 0; i < radius; i++) line[i] = data[x]!;
    for (let y = 0; y < height; y++) line[y + radius] = data[y * width + x]!;
    for (let i = 0; i < radius; i++) line[height + radius + i] = data[(height - 1) * width + x]!;
    for (let y = 0; y < height; y++) {
      let acc = 0;
      for (let k = 0; k < kernel.length; k++) acc += kernel[k]! * line[y + k]!;
      data[y * width + x] = acc;
    }
  }
}
