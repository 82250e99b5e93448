/**
 * A hand and wrist, PA view: distal radius and ulna, eight carpal bones in two rows, five
 * metacarpals, and the phalanges (three per finger, two for the thumb) with joint spaces,
 * inside the soft-tissue outline of hand, fingers and forearm. Millimetres; origin at the
 * capitate, fingers pointing up (−y).
 */
import { ellipse, type Polygon } from '../../geometry.js';
import { band, corticalBone, type Shape } from '../../shape.js';
import type { Rng } from '../../prng.js';
import { outline, step, tubularBone, type LongBoneWidths, type Point } from './bones.js';
import type { XrayScene } from './xray.js';

interface Ray {
  /** Base of the metacarpal. */
  base: Point;
  /** Radians from straight up, clockwise (thumb negative). */
  angle: number;
  metacarpal: number;
  metacarpalWidths: LongBoneWidths;
  /** Proximal, (middle,) distal phalanx lengths. */
  phalanges: number[];
  /** Scales the phalanx widths: the little finger is slimmer. */
  slim: number;
  /** The finger turns further out than its metacarpal (spread). */
  spread: number;
  /** Soft-tissue width of the finger. */
  fingerWidth: number;
}

const PHALANX_WIDTHS: readonly LongBoneWidths[] = [
  { base: 11, shaft: 7, head: 9 },
  { base: 9, shaft: 6, head: 7.5 },
  { base: 8, shaft: 4.5, head: 6.5 },
];

const JOINT_GAP = 1.8;

export function buildHand(rng: Rng): XrayScene {
  const size = rng.uniform(0.88, 1.1);
  const jitter = (): number => rng.uniform(-0.05, 0.05);
  const rays: Ray[] = [
    { base: [-19, -9], angle: -0.72 + jitter(), metacarpal: 44, metacarpalWidths: { base: 13, shaft: 8.5, head: 12 }, phalanges: [31, 24], slim: 1.1, spread: rng.uniform(-0.05, 0.2), fingerWidth: 22 },
    { base: [-10, -17], angle: -0.13 + jitter(), metacarpal: 66, metacarpalWidths: { base: 11, shaft: 7, head: 10 }, phalanges: [41, 25, 17], slim: 1, spread: rng.uniform(-0.12, 0), fingerWidth: 18 },
    { base: [0, -18], angle: jitter(), metacarpal: 63, metacarpalWidths: { base: 11, shaft: 7.5, head: 10.5 }, phalanges: [45, 28, 18], slim: 1.03, spread: rng.uniform(-0.04, 0.04), fingerWidth: 19 },
    { base: [9.5, -17], angle: 0.12 + jitter(), metacarpal: 57, metacarpalWidths: { base: 10, shaft: 6.5, head: 10 }, phalanges: [42, 27, 18], slim: 0.97, spread: rng.uniform(0, 0.12), fingerWidth: 18 },
    { base: [18, -13], angle: 0.26 + jitter(), metacarpal: 52, metacarpalWidths: { base: 9.5, shaft: 6, head: 9 }, phalanges: [33, 20, 16], slim: 0.85, spread: rng.uniform(0.05, 0.25), fingerWidth: 16 },
  ];
  const cortex = rng.uniform(0.55, 0.7);
  const core = rng.uniform(0.22, 0.3);
  const shapes: Shape[] = [];
  const skin: Polygon[] = [];
  const palm: Point[] = [];

  for (const [r, ray] of rays.entries()) {
    const from = scale(ray.base, size);
    const head = step(from, ray.angle, ray.metacarpal * size);
    const widths = scaleWidths(ray.metacarpalWidths, size);
    shapes.push(...tubularBone(from, head, widths, 0.22, cortex, core));
    // The palm covers the metacarpals; the thumb's web is narrower.
    const side = r === 0 ? 7 : 9;
    // Only the thumb's base is inside the palm; beyond it is the web space.
    const palmEnd = r === 0 ? step(from, ray.angle, ray.metacarpal * size * 0.45) : head;
    palm.push(offset(from, ray.angle, -side * size), offset(from, ray.angle, side * size), offset(palmEnd, ray.angle, -side * size), offset(palmEnd, ray.angle, side * size));

    let joint: Point = head;
    const angle = ray.angle + ray.spread;
    // The thumb's soft tissue wraps its metacarpal too (the thenar side of the web).
    const centre: [number, number][] = r === 0 ? [[from[0], from[1]], [head[0], head[1]]] : [[head[0], head[1]]];
    for (const [p, length] of ray.phalanges.entries()) {
      // The thumb has no middle phalanx: its second bone is the distal one.
      const kind = ray.phalanges.length === 2 && p === 1 ? 2 : p;
      const w = scaleWidths(PHALANX_WIDTHS[kind]!, size * ray.slim);
      const start = step(joint, angle, w.base * 0.12 + JOINT_GAP * size + (p === 0 ? widths.head * 0.22 : 0));
      const end = step(start, angle, length * size);
      shapes.push(...tubularBone(start, end, w, 0.2, cortex, core));
      joint = step(end, angle, w.head * 0.22);
      centre.push([end[0], end[1]]);
    }
    // Soft tissue of the finger: a strip to just past the tip, with a round pulp.
    const tip = step(joint, angle, 3 * size);
    centre.push([tip[0], tip[1]]);
    const width = ray.fingerWidth * size * rng.uniform(0.95, 1.05);
    skin.push(band(centre, width), ellipse(tip[0], tip[1], width / 2, width / 2, 0, 20));
  }

  skin.push(outline(hull(palm), 10 * size, 5));
  // Wrist and forearm, running on out of the frame.
  skin.push(outline([[-34 * size, -10 * size], [34 * size, -10 * size], [38 * size, 300], [-40 * size, 300]], 6));
  shapes.push(...carpals(size, cortex, core));
  // Distal radius (thumb side) and ulna, from off-frame up to the carpus.
  shapes.push(...tubularBone([-13 * size, 300], [-12 * size, 20 * size], { base: 15 * size, shaft: 15 * size, head: 31 * size }, 0.2, cortex, core));
  shapes.push(...tubularBone([16 * size, 300], [14 * size, 24 * size], { base: 12 * size, shaft: 11 * size, head: 16 * size }, 0.2, cortex, core));
  shapes.push(...corticalBone(ellipse(20 * size, 20 * size, 2.5 * size, 4 * size), 0.6, cortex, core));

  // Framed from the fingertips to 6 cm above the wrist.
  return {
    skin,
    skinDensity: rng.uniform(0.3, 0.42),
    skinFade: 2.5,
    shapes,
    extent: { x: -85 * size, y: -190 * size, w: 150 * size, h: 260 * size },
  };
}

function carpals(size: number, cortex: number, core: number): Shape[] {
  // [x, y, rx, ry, angle]: proximal row (scaphoid, lunate, triquetrum, pisiform), then distal (trapezium, trapezoid, capitate, hamate).
  const bones: readonly (readonly [number, number, number, number, number])[] = [
    [-12, 6, 8, 4.5, -0.6],
    [-1, 8, 6, 5.5, 0],
    [9, 6, 5.5, 4.5, 0.3],
    [11, 4, 3.5, 3.5, 0],
    [-17, -4, 6, 5, -0.5],
    [-9, -7, 4.5, 5, 0],
    [-0.5, -5, 5, 8, 0],
    [8.5, -4, 5.5, 7, 0.2],
  ];
  // Drawn 20 % larger than listed: the list keeps the textbook proportions between them.
  const k = size * 1.2;
  return bones.flatMap(([x, y, rx, ry, angle]) => corticalBone(ellipse(x * k, y * k, rx * k, ry * k, angle, 28), 0.8 * size, cortex, core));
}

function scale(point: Point, factor: number): [number, number] {
  return [point[0] * factor, point[1] * factor];
}

function scaleWidths(widths: LongBoneWidths, factor: number): LongBoneWidths {
  return { base: widths.base * factor, shaft: widths.shaft * factor, head: widths.head * factor };
}

/** A point moved sideways (perpendicular to a bone at `angle`) by `distance`. */
function offset(point: Point, angle: number, distance: number): Point {
  return [point[0] + Math.cos(angle) * distance, point[1] + Math.sin(angle) * distance];
}

/** Convex hull (monotone chain), counter-clockwise. */
export function hull(points: readonly Point[]): Point[] {
  const sorted = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o: Point, a: Point, b: Point): number => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: Point[] = [];
  for (const p of sorted) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (const p of [...sorted].reverse()) {
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, p) <= 0) upper.pop();
    upper.push(p);
  }
  return [...lower.slice(0, -1), ...upper.slice(0, -1)];
}
