import type { Anatomy } from './anatomy.js';
import { transform, type Polygon } from './geometry.js';
import { buildHead } from './head.js';
import type { Lesion } from './lesion.js';
import { levelMotion } from './motion.js';
import type { Shape } from './shape.js';
import { buildSoftTissue } from './soft-tissue.js';
import { buildSpine } from './spine.js';

export interface Scene {
  shapes: Shape[];
  /** Outer outlines of every vertebral body (and fragment) as drawn, anatomy coordinates, by level (2 … 8). */
  bodies: Map<number, Polygon[]>;
  /** Outlines of the injured vertebra's body (and fragment), anatomy coordinates; empty when normal. */
  lesionOutline: Polygon[];
}

/** Everything to draw for one patient and one injury, in anatomy coordinates. */
export function buildScene(anatomy: Anatomy, lesion: Lesion): Scene {
  const levels = buildSpine(anatomy, lesion);
  // A moved vertebra carries everything above it: the skull is level 0.
  const motion = levelMotion(anatomy, lesion);
  const moved = (level: number, shapes: Shape[]): Shape[] => {
    const m = motion(level);
    return m === undefined ? shapes : shapes.map((s) => ({ ...s, points: transform(s.points, m) }));
  };

  const shapes: Shape[] = [...buildSoftTissue(anatomy, motion), ...moved(0, buildHead(anatomy))];
  const bodies = new Map<number, Polygon[]>();
  for (const level of levels) {
    shapes.push(...moved(level.level, level.shapes));
    const m = motion(level.level);
    if (level.body.length > 0) bodies.set(level.level, m === undefined ? level.body : level.body.map((p) => transform(p, m)));
  }
  return { shapes, bodies, lesionOutline: lesion.kind === 'none' ? [] : (bodies.get(lesion.level) ?? []) };
}
