import { sampleAnatomy, type Anatomy, type SegmentMotion } from './anatomy.js';
import { CRITERIA, translationAtCriterion } from './criteria.js';
import type { Lesion, PhantomLabel } from './lesion.js';
import { measureInterspaces } from './measure.js';
import type { Rng } from './prng.js';
import { fragmentDisplacement } from './spine.js';

/**
 * `synth --variation clinical`: the phantoms a model needs to learn where the line is. Normal
 * necks vary as real ones do (a curve from kyphotic to lordotic, a step-off and angulation
 * somewhere, a slightly wedged body), always under the criteria; injuries start just over
 * them, with a share spread up to 2.5× (docs/phantoms.md, "Clinical variation"). Sizes are
 * set on what `measure.ts` reads off the drawn corners, not on the parameters that draw them.
 */

/** A normal neck's largest deviation stays under this multiple of a criterion. */
export const NORMAL_MAX_RATIO = 0.9;
/** Injuries start here, just over the line, and reach this far. */
export const INJURY_MIN_RATIO = 1.01;
export const INJURY_MAX_RATIO = 2.5;
/** Flexion beyond this multiple of the angulation criterion (22°) is not drawn. */
const ANGULATION_MAX_RATIO = 2;
/** Share of injuries drawn close to the line (up to 1.5×); the rest spread over the whole range. */
const NEAR_LINE = 0.6;

export interface ClinicalStreams {
  /** The neck's curve, step-off and wedging: the same for every class of one case. */
  physiology: Rng;
  anatomy: Rng;
  lesion: Rng;
}

/**
 * One patient and injury. As in the standard set, the same streams under another label give
 * the same patient on the same film; only the injury differs, and any physiological step or
 * wedge that would sit where the injury is, is left out.
 */
export function sampleClinical(streams: ClinicalStreams, label: PhantomLabel): { anatomy: Anatomy; lesion: Lesion } {
  const physiology = samplePhysiology(streams.physiology);
  const base = sampleAnatomy(streams.anatomy, physiology.posture);
  const injury = label === 'normal' ? undefined : sampleInjury(streams.lesion, label);
  const anatomy = withPhysiology(base, physiology, injury?.level);
  return { anatomy, lesion: injury === undefined ? { kind: 'none' } : realiseInjury(injury, anatomy) };
}

interface Physiology {
  posture: { lordosis: number; tilt: number };
  /** A step-off at one interspace, as multiples of the criteria (translation signed, + anterior). */
  step: { level: number; translation: number; angulation: number } | undefined;
  /** One body a little lower in front (anterior height loss, share). */
  wedging: { level: number; loss: number } | undefined;
}

/** Near the line half the time, so that the normals a model sees reach up to it. */
function underTheLine(rng: Rng, nearShare: number, low: number): number {
  return rng.chance(nearShare) ? rng.uniform(0.5, NORMAL_MAX_RATIO) : rng.uniform(low, 0.5);
}

function samplePhysiology(rng: Rng): Physiology {
  // From a kyphotic mid-neck through a straight one to more lordosis than the standard set's 0–9 mm.
  const posture = { lordosis: rng.uniform(-8, 12), tilt: rng.uniform(-0.12, 0.14) };
  const stepLevel = rng.int(2, 7);
  const translation = underTheLine(rng, 0.5, 0) * (rng.chance(0.75) ? 1 : -1);
  const angulation = underTheLine(rng, 0.35, -0.4);
  const step = rng.chance(0.8) ? { level: stepLevel, translation, angulation } : undefined;
  const wedgeLevel = rng.int(3, 7);
  const loss = underTheLine(rng, 0.5, 0) * CRITERIA.heightLoss;
  const wedging = rng.chance(0.5) ? { level: wedgeLevel, loss } : undefined;
  return { posture, step, wedging };
}

function withPhysiology(anatomy: Anatomy, physiology: Physiology, injuredLevel: number | undefined): Anatomy {
  const { wedging, step } = physiology;
  let patient = anatomy;
  if (wedging !== undefined && wedging.level !== injuredLevel) {
    // Anterior height over posterior height is what a reader measures; 1 − loss is that ratio.
    patient = { ...patient, vertebrae: patient.vertebrae.map((v) => (v.level === wedging.level ? { ...v, anteriorRatio: 1 - wedging.loss } : v)) };
  }
  if (step !== undefined && step.level !== injuredLevel) {
    patient = { ...patient, steps: [solveMotion(patient, step.level, step.translation, step.angulation)] };
  }
  return patient;
}

/**
 * The slide and flexion at interspace `level` that make the measured translation and relative
 * angulation these multiples of their criteria. Flexion adds to the relative angulation
 * one for one; the measured translation is linear in the slide, so two measurements fix it.
 */
function solveMotion(anatomy: Anatomy, level: number, translationRatio: number, angulationRatio: number): SegmentMotion {
  const upper = anatomy.vertebrae.find((v) => v.level === level)!;
  const measuredWith = (slip: number, flexion: number) => {
    const moved = { ...anatomy, steps: [...anatomy.steps, { level, slip, flexion }] };
    return measureInterspaces(moved, { kind: 'none' }).find((m) => m.level === level)!;
  };
  const unmoved = measuredWith(0, 0);
  const flexion = ((angulationRatio * CRITERIA.angulationDeg - unmoved.angulationDeg) * Math.PI) / 180;
  const targetMm = translationRatio * translationAtCriterion(upper.depth);
  const atZero = measuredWith(0, flexion).translationMm;
  const perSlip = measuredWith(1, flexion).translationMm - atZero;
  return { level, slip: (targetMm - atZero) / perSlip, flexion };
}

type Injury =
  | { kind: 'translation'; level: number; ratio: number; translation: number; angulation: number }
  | { kind: 'wedge'; level: number; ratio: number }
  | { kind: 'cortical-break'; level: number; ratio: number; position: number; angle: number; gap: number }
  | { kind: 'avulsion'; level: number; ratio: number; height: number; depth: number; turn: number };

function sampleInjury(rng: Rng, label: Exclude<PhantomLabel, 'normal'>): Injury {
  const level = rng.int(3, 7);
  const ratio = rng.chance(NEAR_LINE) ? rng.uniform(INJURY_MIN_RATIO, 1.5) : rng.uniform(INJURY_MIN_RATIO, INJURY_MAX_RATIO);
  if (label === 'dislocation') {
    // Mostly a slide; some cross the line by angulation alone, some by both.
    const mode = rng.next();
    const angled = Math.min(ratio, ANGULATION_MAX_RATIO);
    if (mode < 0.7) return { kind: 'translation', level, ratio, translation: ratio, angulation: rng.uniform(-0.3, NORMAL_MAX_RATIO) };
    if (mode < 0.85) return { kind: 'translation', level, ratio: angled, translation: rng.uniform(0, NORMAL_MAX_RATIO), angulation: angled };
    return { kind: 'translation', level, ratio, translation: ratio, angulation: rng.uniform(INJURY_MIN_RATIO, Math.max(INJURY_MIN_RATIO, angled)) };
  }
  const kind = rng.pick(['cortical-break', 'wedge', 'avulsion'] as const);
  switch (kind) {
    case 'wedge':
      return { kind, level, ratio };
    case 'cortical-break':
      return { kind, level, ratio, position: rng.uniform(-0.2, 0.2), angle: (rng.pick([-1, 1]) * rng.uniform(8, 28) * Math.PI) / 180, gap: rng.uniform(1, 2) };
    case 'avulsion':
      return { kind, level, ratio, height: rng.uniform(0.4, 0.55), depth: rng.uniform(0.4, 0.55), turn: (rng.uniform(8, 25) * Math.PI) / 180 };
  }
}

/** The drawing parameters that put the injury at its ratio on this patient. */
function realiseInjury(injury: Injury, anatomy: Anatomy): Lesion {
  const v = anatomy.vertebrae.find((candidate) => candidate.level === injury.level)!;
  // labels.csv's 0–1 severity: 0 at the criterion, 1 at the top of the range.
  const severity = Math.min(1, (injury.ratio - 1) / (INJURY_MAX_RATIO - 1));
  const base = { level: injury.level, severity };
  // A fragment's travel is linear in the parameter that moves it: measure one unit, scale.
  const fragmentMm = injury.ratio * CRITERIA.displacementMm;
  switch (injury.kind) {
    case 'translation': {
      const { slip, flexion } = solveMotion(anatomy, injury.level, injury.translation, injury.angulation);
      return { kind: 'translation', ...base, slip, flexion };
    }
    case 'wedge': {
      // Anterior height = height · anteriorRatio · (1 − reduction) = height · (1 − loss).
      const loss = injury.ratio * CRITERIA.heightLoss;
      return { kind: 'wedge', ...base, reduction: 1 - (1 - loss) / v.anteriorRatio };
    }
    case 'cortical-break': {
      const { position, angle, gap } = injury;
      const fragment = { kind: 'cortical-break' as const, ...base, position, angle, gap };
      return { ...fragment, step: fragmentMm / fragmentDisplacement(v, { ...fragment, step: 1 }) };
    }
    case 'avulsion': {
      const { height, depth, turn } = injury;
      const fragment = { kind: 'avulsion' as const, ...base, height, depth, turn };
      return { ...fragment, shift: fragmentMm / fragmentDisplacement(v, { ...fragment, shift: 1 }) };
    }
  }
}
