import type { Anatomy, SegmentMotion } from './anatomy.js';
import { compose, rotationAbout, transformPoint, translation, type Affine } from './geometry.js';
import type { Lesion } from './lesion.js';
import { frameOf } from './spine.js';

/** Every interspace that moves: the patient's own steps, then the dislocation if there is one. */
export function segmentMotions(anatomy: Anatomy, lesion: Lesion): SegmentMotion[] {
  return lesion.kind === 'translation' ? [...anatomy.steps, lesion] : anatomy.steps;
}

/**
 * Where each level ends up: the motion of every interspace at or below it, the lowest applied
 * last (a motion higher up is defined on the unmoved column and then carried along).
 * Undefined for a level that does not move.
 */
export function levelMotion(anatomy: Anatomy, lesion: Lesion): (level: number) => Affine | undefined {
  const affines = segmentMotions(anatomy, lesion)
    .map((motion) => ({ level: motion.level, affine: segmentAffine(anatomy, motion) }))
    .sort((a, b) => a.level - b.level);
  return (level) => {
    let moved: Affine | undefined;
    for (const { level: at, affine } of affines) {
      if (at >= level) moved = moved === undefined ? affine : compose(affine, moved);
    }
    return moved;
  };
}

function segmentAffine(anatomy: Anatomy, motion: SegmentMotion): Affine {
  const v = anatomy.vertebrae.find((candidate) => candidate.level === motion.level);
  if (v === undefined) throw new RangeError(`no vertebra at level ${motion.level}`);
  const frame = frameOf(v);
  const [px, py] = transformPoint(-v.depth / 2, (v.height * v.anteriorRatio) / 2, frame);
  const shift = motion.slip * v.depth;
  // Anterior is −u in the body's frame.
  const slide = translation(-shift * frame.a, -shift * frame.b);
  return compose(slide, rotationAbout(-motion.flexion, px, py));
}
