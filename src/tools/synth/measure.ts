import type { Anatomy, Vertebra } from './anatomy.js';
import { angulationRatio, displacementRatio, heightLossRatio, translationRatio } from './criteria.js';
import { compose, transformPoint, type Affine } from './geometry.js';
import type { Lesion } from './lesion.js';
import { levelMotion } from './motion.js';
import { bodyCornerPoints, frameOf, fragmentDisplacement, wedgeDrop, type BodyCorners } from './spine.js';

/**
 * What a reader would measure on the film, taken from the corners the renderer draws the bodies
 * from, where they end up after every motion: so a recorded 3.5 mm is 3.5 mm on the picture,
 * whatever mix of slide, flexion and curve put it there. Anatomy millimetres throughout (the
 * film's scale is uniform, so px = mm × imaging.scale).
 */

/** Alignment at one interspace, the upper vertebra's `level` over the one below. */
export interface InterspaceMeasure {
  /** 2 (C2/C3) … 7 (C7/T1). */
  level: number;
  /**
   * How far the upper body's posterior-inferior corner lies ahead of the line of the lower
   * body's posterior wall (its posterior tangent), mm (+ anterior).
   */
  translationMm: number;
  /** translationMm over the upper body's AP depth. */
  translationShare: number;
  /**
   * Kyphotic angle between the two bodies' posterior walls (the posterior tangents), degrees
   * (+ flexion). Walls, not endplates, so that a wedged body reads as height loss, not as rotation.
   */
  kyphosisDeg: number;
  /** kyphosisDeg beyond the mean of the adjacent interspaces' (those that exist): the criterion's "relative" rotation. */
  angulationDeg: number;
}

export interface ClinicalMeasures {
  /** Interspace (upper level) that translation and angulation describe. */
  interspace: number;
  translationMm: number;
  translationShare: number;
  angulationDeg: number;
  /** 1 − anterior / posterior height of the injured body (normals: the largest over C3–C7). */
  heightLoss: number;
  /** Fractures with a fragment: how far it moved, mm. */
  displacementMm: number | undefined;
  /** Severity as a multiple of the kind's criterion (normals: the largest of their ratios). */
  criterionRatio: number;
}

type Point = [number, number];

/** The interspaces C2/C3 … C7/T1, each with its translation and angulation as drawn. */
export function measureInterspaces(anatomy: Anatomy, lesion: Lesion): InterspaceMeasure[] {
  const corners = placedCorners(anatomy, lesion);
  const raw = anatomy.vertebrae.slice(0, -1).map((upper, i) => {
    const above = corners[i]!;
    const below = corners[i + 1]!;
    // Anterior, square to the lower body's posterior wall.
    const [wallX, wallY] = unit(sub(below.posteriorInferior, below.posteriorSuperior));
    const translationMm = dot(sub(above.posteriorInferior, below.posteriorSuperior), [-wallY, wallX]);
    const kyphosis = direction(below.posteriorSuperior, below.posteriorInferior) - direction(above.posteriorSuperior, above.posteriorInferior);
    return { level: upper.level, translationMm, translationShare: translationMm / upper.depth, kyphosisDeg: (kyphosis * 180) / Math.PI };
  });
  return raw.map((here, i) => {
    const neighbours = [raw[i - 1], raw[i + 1]].filter((n) => n !== undefined);
    const mean = neighbours.reduce((sum, n) => sum + n.kyphosisDeg, 0) / neighbours.length;
    return { ...here, angulationDeg: here.kyphosisDeg - mean };
  });
}

/** 1 − anterior height / posterior height of one body as drawn (negative when taller in front). */
export function heightLoss(anatomy: Anatomy, lesion: Lesion, level: number): number {
  const v = vertebra(anatomy, level);
  const c = bodyCornerPoints(v, lesion.kind === 'wedge' && lesion.level === level ? wedgeDrop(v, lesion) : 0);
  return 1 - distance(c.anteriorSuperior, c.anteriorInferior) / distance(c.posteriorSuperior, c.posteriorInferior);
}

/** One case in clinical units: the injured level, or for a normal neck its most deviant one. */
export function measureCase(anatomy: Anatomy, lesion: Lesion): ClinicalMeasures {
  const interspaces = measureInterspaces(anatomy, lesion);
  const alignmentRatio = (m: InterspaceMeasure) => Math.max(translationRatio(m.translationMm, m.translationShare), angulationRatio(m.angulationDeg));
  if (lesion.kind === 'none') {
    const worst = interspaces.reduce((a, b) => (alignmentRatio(b) > alignmentRatio(a) ? b : a));
    const loss = Math.max(...SUBAXIAL.map((level) => heightLoss(anatomy, lesion, level)));
    return { ...clinical(worst, loss, undefined), criterionRatio: Math.max(alignmentRatio(worst), heightLossRatio(loss)) };
  }
  const at = interspaces.find((m) => m.level === lesion.level)!;
  const loss = heightLoss(anatomy, lesion, lesion.level);
  switch (lesion.kind) {
    case 'translation':
      return { ...clinical(at, loss, undefined), criterionRatio: alignmentRatio(at) };
    case 'wedge':
      return { ...clinical(at, loss, undefined), criterionRatio: heightLossRatio(loss) };
    case 'cortical-break':
    case 'avulsion': {
      const moved = fragmentDisplacement(vertebra(anatomy, lesion.level), lesion);
      return { ...clinical(at, loss, moved), criterionRatio: displacementRatio(moved) };
    }
  }
}

/** The levels whose bodies can be injured, and whose height a normal neck is judged on. */
const SUBAXIAL = [3, 4, 5, 6, 7] as const;

function clinical(at: InterspaceMeasure, heightLossShare: number, displacementMm: number | undefined): Omit<ClinicalMeasures, 'criterionRatio'> {
  return { interspace: at.level, translationMm: at.translationMm, translationShare: at.translationShare, angulationDeg: at.angulationDeg, heightLoss: heightLossShare, displacementMm };
}

/** Every body's corners (C2 … T1) in anatomy coordinates, after its frame and its motion. */
function placedCorners(anatomy: Anatomy, lesion: Lesion): Array<Record<keyof BodyCorners, Point>> {
  const motion = levelMotion(anatomy, lesion);
  return anatomy.vertebrae.map((v) => {
    const moved = motion(v.level);
    const place: Affine = moved === undefined ? frameOf(v) : compose(moved, frameOf(v));
    const local = bodyCornerPoints(v, lesion.kind === 'wedge' && lesion.level === v.level ? wedgeDrop(v, lesion) : 0);
    const at = ([u, w]: Point): Point => transformPoint(u, w, place);
    return {
      anteriorSuperior: at(local.anteriorSuperior),
      posteriorSuperior: at(local.posteriorSuperior),
      posteriorInferior: at(local.posteriorInferior),
      anteriorInferior: at(local.anteriorInferior),
    };
  });
}

function vertebra(anatomy: Anatomy, level: number): Vertebra {
  const v = anatomy.vertebrae.find((candidate) => candidate.level === level);
  if (v === undefined) throw new RangeError(`no vertebra at level ${level}`);
  return v;
}

const sub = (a: Point, b: Point): Point => [a[0] - b[0], a[1] - b[1]];
const dot = (a: Point, b: Point): number => a[0] * b[0] + a[1] * b[1];
const distance = (a: Point, b: Point): number => Math.hypot(a[0] - b[0], a[1] - b[1]);
const unit = (a: Point): Point => {
  const length = Math.hypot(a[0], a[1]);
  return [a[0] / length, a[1] / length];
};
/** Direction of the line from `from` to `to`, radians; +x posterior, +y caudal, so flexing the segment lowers it. */
const direction = (from: Point, to: Point): number => Math.atan2(to[1] - from[1], to[0] - from[0]);
