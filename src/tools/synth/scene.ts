import type { Anatomy } from './anatomy.js';
import { compose, rotationAbout, transform, transformPoint, translation, type Affine, type Polygon } from './geometry.js';
import { buildHead } from './head.js';
import type { Lesion } from './lesion.js';
import type { Shape } from './shape.js';
import { buildSoftTissue } from './soft-tissue.js';
import { buildSpine, frameOf } from './spine.js';

export interface Scene {
  shapes: Shape[];
  /** Outlines of the injured vertebra's body (and fragment), anatomy coordinates; empty when normal. */
  lesionOutline: Polygon[];
}

/** Everything to draw for one patient and one injury, in anatomy coordinates. */
export function buildScene(anatomy: Anatomy, lesion: Lesion): Scene {
  const levels = buildSpine(anatomy, lesion);
  const slip = lesion.kind === 'translation' ? segmentMotion(anatomy, lesion) : undefined;
  // The slipped vertebra carries everything above it: the skull is level 0.
  const motion = (level: number): Affine | undefined => (slip !== undefined && lesion.kind !== 'none' && level <= lesion.level ? slip : undefined);
  const moved = (level: number, shapes: Shape[]): Shape[] => {
    const m = motion(level);
    return m === undefined ? shapes : shapes.map((s) => ({ ...s, points: transform(s.points, m) }));
  };

  const shapes: Shape[] = [...buildSoftTissue(anatomy, motion), ...moved(0, buildHead(anatomy))];
  let lesionOutline: Polygon[] = [];
  for (const level of levels) {
    shapes.push(...moved(level.level, level.shapes));
    if (lesion.kind !== 'none' && level.level === lesion.level) {
      const m = motion(level.level);
      lesionOutline = m === undefined ? level.body : level.body.map((p) => transform(p, m));
    }
  }
  return { shapes, lesionOutline };
}

/**
 * A flexion-distraction injury: the slipped vertebra and everything above it tip forward
 * about its antero-inferior corner (opening the facets and the interspinous space behind)
 * and slide forward over the vertebra below.
 */
function segmentMotion(anatomy: Anatomy, lesion: Extract<Lesion, { kind: 'translation' }>): Affine {
  const v = anatomy.vertebrae.find((candidate) => candidate.level === lesion.level);
  if (v === undefined) throw new RangeError(`no vertebra at level ${lesion.level}`);
  const frame = frameOf(v);
  const [px, py] = transformPoint(-v.depth / 2, (v.height * v.anteriorRatio) / 2, frame);
  const shift = lesion.slip * v.depth;
  // Anterior is −u in the body's frame.
  const slide = translation(-shift * frame.a, -shift * frame.b);
  return compose(slide, rotationAbout(-lesion.flexion, px, py));
}
