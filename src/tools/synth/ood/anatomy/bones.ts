/**
 * Outlines for limb and trunk bones, in millimetres. A tubular bone on film is a bright
 * cortical shell with a darker medullary canal, which is what corticalBone (../../shape.ts)
 * draws from any outline; these functions only make the outlines.
 */
import { rounded, type Polygon } from '../../geometry.js';
import { corticalBone, type Shape } from '../../shape.js';

export type Point = readonly [number, number];

export interface LongBoneWidths {
  /** Width at the proximal end (base), shaft, and distal end (head), mm. */
  base: number;
  shaft: number;
  head: number;
}

/**
 * A long bone from `from` to `to`: flared ends, a waisted shaft, domed caps. Works for
 * phalanges and metacarpals as for a femur; the proportions come from the widths.
 */
export function longBone(from: Point, to: Point, widths: LongBoneWidths): Polygon {
  const dx = to[0] - from[0];
  const dy = to[1] - from[1];
  const length = Math.hypot(dx, dy) || 1;
  const ux = dx / length;
  const uy = dy / length;
  // Across the bone (left of the direction of travel).
  const vx = -uy;
  const vy = ux;
  const at = (along: number, across: number): [number, number] => [from[0] + ux * along + vx * across, from[1] + uy * along + vy * across];
  const { base, shaft, head } = widths;
  const local: [number, number][] = [
    [-base * 0.12, 0],
    [0, base / 2],
    [length * 0.22, shaft / 2],
    [length * 0.75, shaft / 2],
    [length, head / 2],
    [length + head * 0.22, 0],
    [length, -head / 2],
    [length * 0.75, -shaft / 2],
    [length * 0.22, -shaft / 2],
    [0, -base / 2],
  ];
  const corners: number[] = [];
  for (const [along, across] of local) corners.push(...at(along, across));
  return rounded(corners, Math.min(base, head) * 0.35, 4);
}

/** A long bone with its cortex: cortex thickness as a share of the shaft width. */
export function tubularBone(from: Point, to: Point, widths: LongBoneWidths, cortexShare: number, cortex: number, core: number): Shape[] {
  return corticalBone(longBone(from, to, widths), Math.max(0.4, widths.shaft * cortexShare), cortex, core);
}

/** Where a bone of `length` from `from` at `angle` (radians from straight up, clockwise) ends. */
export function step(from: Point, angle: number, length: number): [number, number] {
  return [from[0] + Math.sin(angle) * length, from[1] - Math.cos(angle) * length];
}

/** A closed polygon from a list of points, with its corners softened. */
export function outline(points: readonly Point[], radius: number, steps = 4): Polygon {
  return rounded(points.flatMap(([x, y]) => [x, y]), radius, steps);
}

/** Points along a quadratic curve, for ribs and clavicles (centre lines for shape.ts band). */
export function quadratic(a: Point, control: Point, b: Point, segments = 12): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i <= segments; i++) {
    const t = i / segments;
    const u = 1 - t;
    out.push([u * u * a[0] + 2 * u * t * control[0] + t * t * b[0], u * u * a[1] + 2 * u * t * control[1] + t * t * b[1]]);
  }
  return out;
}
