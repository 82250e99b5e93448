import { sampleAnatomy, type Anatomy } from './anatomy.js';
import { sampleClinical } from './clinical.js';
import { sampleLesion, type Lesion, type PhantomLabel } from './lesion.js';
import { combine, Rng, Stream } from './prng.js';

/**
 * Which population the cases come from: `standard`, the set the shipped model was trained on
 * (every injury plainly over its criterion, normals with no deliberate step-offs), or
 * `clinical`, normals with physiological variation under the criteria and injuries from just
 * over them (clinical.ts).
 */
export type Variation = 'standard' | 'clinical';
export const VARIATIONS: readonly Variation[] = ['standard', 'clinical'];

/** How the film was taken and processed: framing, exposure, blur, noise, shutters, marker. */
export interface Imaging {
  /** Pixels per millimetre. */
  scale: number;
  /** Turn of the patient in the image, radians. */
  rotation: number;
  /** Where the anatomy's centre lands, in pixels. */
  centreX: number;
  centreY: number;
  /** Patient facing right (anterior on the right) instead of the usual left. */
  mirror: boolean;
  blur: number;
  /** Soft-tissue attenuation change across and down the film (heel effect, thicker lower neck). */
  gradientX: number;
  gradientY: number;
  texture: number;
  textureCell: number;
  /** Attenuation per density unit (film hardness). */
  attenuation: number;
  black: number;
  white: number;
  gamma: number;
  /** Photons per pixel in open beam: fewer means more quantum noise. */
  photons: number;
  electronic: number;
  collimation: { left: number; right: number; top: number; bottom: number; level: number };
  marker: { letter: 'L' | 'R'; corner: 0 | 1 | 2 | 3; light: boolean; margin: number };
  noiseSeed: number;
}

export interface PhantomParams {
  width: number;
  height: number;
  anatomy: Anatomy;
  lesion: Lesion;
  imaging: Imaging;
}

/**
 * Everything one case needs, from its seed. Anatomy, lesion, imaging and noise come from
 * separate streams, so the same seed with another label is the same patient on the same
 * film with a different injury (which is what the paired tests rely on).
 */
export function phantomParams(seed: number, label: PhantomLabel, width: number, height: number, variation: Variation = 'standard'): PhantomParams {
  const anatomyStream = new Rng(combine(seed, Stream.anatomy));
  const lesionStream = new Rng(combine(seed, Stream.lesion));
  const { anatomy, lesion } =
    variation === 'clinical'
      ? sampleClinical({ physiology: new Rng(combine(seed, Stream.physiology)), anatomy: anatomyStream, lesion: lesionStream }, label)
      : { anatomy: sampleAnatomy(anatomyStream), lesion: sampleLesion(lesionStream, label) };
  const imaging = sampleImaging(new Rng(combine(seed, Stream.imaging)), anatomy, width, height, combine(seed, Stream.noise));
  return { width, height, anatomy, lesion, imaging };
}

function sampleImaging(rng: Rng, anatomy: Anatomy, width: number, height: number, noiseSeed: number): Imaging {
  // Frame the column from the skull base to T1 the way a technologist would, give or take.
  const fit = Math.min((height * 0.8) / anatomy.length, (width * 0.8) / 120);
  const mirror = rng.chance(0.3);
  const side = (share: number, present: number): number => (rng.chance(present) ? Math.round(share) : 0);
  return {
    scale: fit * rng.uniform(0.88, 1.05),
    rotation: (rng.uniform(-10, 10) * Math.PI) / 180,
    centreX: width * ((mirror ? 0.56 : 0.44) + rng.uniform(-0.04, 0.04)),
    centreY: height * (0.53 + rng.uniform(-0.03, 0.03)),
    mirror,
    blur: rng.uniform(0.45, 1.2) * (width / 256),
    gradientX: rng.uniform(-0.15, 0.15),
    gradientY: rng.uniform(0, 0.3),
    texture: rng.uniform(0.08, 0.22),
    textureCell: rng.uniform(1.5, 3) * (width / 256),
    attenuation: rng.uniform(0.95, 1.3),
    black: rng.uniform(0.12, 0.3),
    white: rng.uniform(0.82, 0.98),
    gamma: rng.uniform(0.8, 1.25),
    photons: rng.uniform(500, 3000),
    electronic: rng.uniform(0.002, 0.012),
    collimation: {
      left: side(width * rng.uniform(0.02, 0.09), 0.6),
      right: side(width * rng.uniform(0.02, 0.09), 0.6),
      top: side(height * rng.uniform(0.02, 0.06), 0.5),
      bottom: side(height * rng.uniform(0.02, 0.06), 0.5),
      level: rng.uniform(0, 0.08),
    },
    marker: {
      letter: rng.pick(['L', 'R'] as const),
      corner: rng.pick([0, 1, 2, 3] as const),
      light: rng.chance(0.6),
      margin: Math.round(rng.uniform(0.015, 0.05) * width),
    },
    noiseSeed,
  };
}
