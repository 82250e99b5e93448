import type { Rng } from './prng.js';

/**
 * Movement at one interspace: vertebra `level` and everything above it tip forward about the
 * vertebra's antero-inferior corner (opening the facets and the interspinous space behind)
 * and slide forward over the vertebra below. A dislocation is one; a physiological step-off
 * under the criteria is another, drawn the same way so that only its size tells them apart.
 */
export interface SegmentMotion {
  /** The upper vertebra of the interspace, 2 (C2/C3) … 7 (C7/T1). */
  level: number;
  /** Anterior slide as a fraction of the upper body's depth (negative: backwards). */
  slip: number;
  /** Flexion of the upper segment, radians (negative: extension). */
  flexion: number;
}

/**
 * The patient: sizes and positions of everything drawn, in millimetres, in a frame with
 * +x posterior and +y caudal (down). Sampling is separate from drawing so a test can draw
 * the same patient with and without an injury.
 */

/** Index into the column: 0 is the skull, 1 is C1, 2 is C2 … 7 is C7, 8 is T1. */
export const LEVEL_NAMES = ['occiput', 'C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'T1'] as const;

export interface Vertebra {
  /** 2 (C2) … 8 (T1). */
  level: number;
  /** Centre of the body and the turn of its frame (local +u posterior, +v caudal). */
  cx: number;
  cy: number;
  angle: number;
  depth: number;
  height: number;
  /** Anterior over posterior body height; a healthy spread, well away from a wedge. */
  anteriorRatio: number;
  /** Disc below this body. */
  discBelow: number;
  /** Posterior body line to spinolaminar line. */
  canal: number;
  pillarWidth: number;
  /** Slope of the facet joints seen from the side, rise over run. */
  facetSlope: number;
  spinousLength: number;
  /** Downward tilt of the spinous process, radians. */
  spinousAngle: number;
  spinousBase: number;
}

export interface Anatomy {
  /** C2 … T1, top to bottom. */
  vertebrae: Vertebra[];
  densWidth: number;
  densHeight: number;
  /** C2's antero-inferior lip. */
  c2Lip: number;
  /** Atlanto-dental interval. */
  adi: number;
  c1ArchRadius: number;
  c1PosteriorLength: number;
  /** Head flexion (+) or extension (−) about the dens tip, radians. */
  headAngle: number;
  basionGap: number;
  occiputThickness: number;
  mandibleOffset: number;
  mandibleDrop: number;
  hyoidOffset: number;
  prevertebral: number;
  retrotracheal: number;
  airwayWidth: number;
  throatDepth: number;
  napeDepth: number;
  softDensity: number;
  headDensity: number;
  /** Shoulder line relative to the T1 centre (+ below). */
  shoulderLevel: number;
  shoulderDensity: number;
  cortexDensity: number;
  coreDensity: number;
  cortexThickness: number;
  /** Point that the view centres on, and the spine's drawn length, for framing. */
  centre: [number, number];
  length: number;
  /** Step-offs and angulation this neck has without an injury (none unless a variation adds them). */
  steps: SegmentMotion[];
}

/** The curve the bodies sit on: forward bow of the mid-neck (mm; negative is kyphotic) and overall lean. */
export interface Posture {
  lordosis: number;
  tilt: number;
}

const HEIGHT = [15.5, 11.5, 12, 12.2, 12.5, 13.5, 15.5] as const;
const DEPTH = [15, 15.5, 16, 16.5, 17, 17.5, 18.5] as const;
const DISC = [4.2, 4.6, 4.9, 5.1, 5.1, 4.4, 3.8] as const;
const SPINOUS = [24, 14, 15, 17, 21, 29, 30] as const;
const SPINOUS_TILT_DEG = [14, 22, 24, 26, 24, 18, 24] as const;

/**
 * A patient. `posture` replaces the curve this stream would draw; the draws are still made, so
 * every other measurement of the patient stays what it would have been.
 */
export function sampleAnatomy(rng: Rng, posture?: Posture): Anatomy {
  const size = rng.uniform(0.92, 1.08);
  const drawnLordosis = rng.uniform(0, 9);
  const drawnTilt = rng.uniform(-0.1, 0.12);
  const { lordosis, tilt } = posture ?? { lordosis: drawnLordosis, tilt: drawnTilt };
  const dims = HEIGHT.map((height, i) => ({
    height: height * size * rng.uniform(0.96, 1.04),
    depth: DEPTH[i]! * size * rng.uniform(0.95, 1.05),
    disc: DISC[i]! * size * rng.uniform(0.85, 1.15),
  }));
  const length = dims.reduce((sum, d) => sum + d.height + d.disc, 0);
  const canal = rng.uniform(15, 18.5) * size;

  // Bodies are stacked along a lordotic arc: the middle of the neck bows forward (−x).
  const arcX = (y: number): number => -lordosis * Math.sin((Math.PI * y) / length) + tilt * (y - length / 2);
  const arcSlope = (y: number): number => ((-lordosis * Math.PI) / length) * Math.cos((Math.PI * y) / length) + tilt;
  const vertebrae: Vertebra[] = [];
  let y = 0;
  dims.forEach((d, i) => {
    const cy = y + d.height / 2;
    vertebrae.push({
      level: i + 2,
      cx: arcX(cy),
      cy,
      angle: -Math.atan(arcSlope(cy)),
      depth: d.depth,
      height: d.height,
      anteriorRatio: rng.uniform(0.95, 1.03),
      discBelow: d.disc,
      canal: canal * rng.uniform(0.97, 1.03),
      pillarWidth: rng.uniform(9, 11.5) * size,
      facetSlope: Math.tan((rng.uniform(28, 40) * Math.PI) / 180),
      spinousLength: SPINOUS[i]! * size * rng.uniform(0.85, 1.15),
      spinousAngle: ((SPINOUS_TILT_DEG[i]! + rng.uniform(-6, 6)) * Math.PI) / 180,
      spinousBase: d.height * rng.uniform(0.55, 0.7),
    });
    y += d.height + d.disc;
  });

  const densHeight = rng.uniform(13, 16) * size;
  const top = -densHeight;
  return {
    vertebrae,
    densWidth: rng.uniform(8.5, 10.5) * size,
    densHeight,
    c2Lip: rng.uniform(0.8, 2.2) * size,
    adi: rng.uniform(1.5, 2.8) * size,
    c1ArchRadius: rng.uniform(4.2, 5.4) * size,
    c1PosteriorLength: rng.uniform(11, 15) * size,
    headAngle: (rng.uniform(-8, 8) * Math.PI) / 180,
    basionGap: rng.uniform(4, 8) * size,
    occiputThickness: rng.uniform(5, 8) * size,
    mandibleOffset: rng.uniform(30, 42) * size,
    mandibleDrop: rng.uniform(28, 40) * size,
    hyoidOffset: rng.uniform(28, 38) * size,
    prevertebral: rng.uniform(3, 6) * size,
    retrotracheal: rng.uniform(11, 17) * size,
    airwayWidth: rng.uniform(11, 18) * size,
    throatDepth: rng.uniform(38, 55) * size,
    napeDepth: rng.uniform(60, 85) * size,
    softDensity: rng.uniform(0.5, 0.62),
    headDensity: rng.uniform(0.12, 0.25),
    shoulderLevel: rng.uniform(-2, 16) * size,
    shoulderDensity: rng.uniform(0.55, 0.85),
    cortexDensity: rng.uniform(0.5, 0.65),
    coreDensity: rng.uniform(0.24, 0.32),
    cortexThickness: rng.uniform(0.9, 1.3) * size,
    centre: [0, (top + length) / 2],
    length: length - top,
    steps: [],
  };
}
