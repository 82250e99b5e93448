import { inset, type Polygon } from './geometry.js';

/**
 * One filled outline and the attenuation it adds. Bone and soft tissue are kept apart so
 * only bone gets the trabecular texture.
 */
export interface Shape {
  points: Polygon;
  density: number;
  layer: 'soft' | 'bone';
}

/**
 * A bone as film shows it: a dense cortical shell around a lighter cancellous core. Drawn
 * as the whole outline at cortical density plus the inset core at (core − cortex), because
 * attenuation adds and the shell is what is left.
 */
export function corticalBone(outline: Polygon, cortex: number, cortexDensity: number, coreDensity: number): Shape[] {
  return [
    { points: outline, density: cortexDensity, layer: 'bone' },
    { points: inset(outline, cortex), density: coreDensity - cortexDensity, layer: 'bone' },
  ];
}

/**
 * A strip of constant width along a polyline, e.g. the occipital squama or the mandible.
 * Sharp bends are not handled; the centre lines used here bend gently.
 */
export function band(centre: readonly (readonly [number, number])[], width: number): Polygon {
  const left: number[] = [];
  const right: number[] = [];
  const half = width / 2;
  for (let i = 0; i < centre.length; i++) {
    const prev = centre[Math.max(0, i - 1)]!;
    const next = centre[Math.min(centre.length - 1, i + 1)]!;
    const dx = next[0] - prev[0];
    const dy = next[1] - prev[1];
    const len = Math.hypot(dx, dy) || 1;
    const nx = -dy / len;
    const ny = dx / len;
    const [x, y] = centre[i]!;
    left.push(x + nx * half, y + ny * half);
    right.push(x - nx * half, y - ny * half);
  }
  const out = left;
  for (let i = right.length - 2; i >= 0; i -= 2) out.push(right[i]!, right[i + 1]!);
  return out;
}

/**
 * A soft-edged region: `steps` copies, each shifted a bit further along (dx, dy), share the
 * density. Cheaper than blurring one layer on its own, and enough for skin and shoulders.
 */
export function feathered(points: Polygon, density: number, layer: Shape['layer'], dx: number, dy: number, steps = 4): Shape[] {
  const shapes: Shape[] = [];
  for (let k = 0; k < steps; k++) {
    const moved = new Array<number>(points.length);
    for (let i = 0; i < points.length; i += 2) {
      moved[i] = points[i]! + dx * k;
      moved[i + 1] = points[i + 1]! + dy * k;
    }
    shapes.push({ points: moved, density: density / steps, layer });
  }
  return shapes;
}
