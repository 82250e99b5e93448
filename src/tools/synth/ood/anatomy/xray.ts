/**
 * Image formation for the other-anatomy radiographs, the same physics as the c-spine
 * phantom (attenuation adds along the beam; photons → quantum + electronic noise; inverted
 * so bone is bright; windowed; gamma) but written for any body part: the scene is a skin
 * outline (its union is the soft tissue), plus soft-tissue and bone shapes in millimetres.
 */
import { createCanvas, fillPolygon, gaussianBlur, type Canvas } from '../../canvas.js';
import { addTexture } from '../../film.js';
import { bounds, compose, rotationAbout, transform, translation, type Affine, type Polygon } from '../../geometry.js';
import { drawMarker } from '../../marker.js';
import type { Rng } from '../../prng.js';
import type { Shape } from '../../shape.js';
import type { Imaging } from '../../params.js';

export interface XrayScene {
  /** Outlines whose union is the body; overlaps count once, unlike shapes. */
  skin: Polygon[];
  skinDensity: number;
  /** How far the skin edge fades in, mm (the body thins towards its edge). */
  skinFade: number;
  /** Added on top: organs (negative for air, e.g. lungs) and bones. */
  shapes: Shape[];
  /**
   * What the technologist frames, mm; default the skin's bounds. Limbs and trunks go on
   * past it, so the body is cut by the frame edge as on a real film, not floating in it.
   */
  extent?: { x: number; y: number; w: number; h: number };
}

/** Settings of one exposure, the same knobs the c-spine films have: drawn per image so no two films look alike. */
export type Exposure = Pick<Imaging, 'attenuation' | 'black' | 'white' | 'gamma' | 'photons' | 'electronic' | 'blur' | 'texture' | 'textureCell'>;

export function sampleExposure(rng: Rng, width: number): Exposure {
  const px = width / 256;
  return {
    attenuation: rng.uniform(0.95, 1.3),
    black: rng.uniform(0.08, 0.25),
    white: rng.uniform(0.8, 0.97),
    gamma: rng.uniform(0.8, 1.25),
    photons: rng.uniform(500, 3000),
    electronic: rng.uniform(0.002, 0.012),
    blur: rng.uniform(0.45, 1.1) * px,
    texture: rng.uniform(0.08, 0.2),
    textureCell: rng.uniform(1.5, 3) * px,
  };
}

/**
 * How the body part is placed: fitted so that `extent` (mm) fills 80–95 % of the frame,
 * then turned ±8°, shifted ±5 % and, half the time, mirrored (the other side's limb).
 */
export function frame(extent: { x: number; y: number; w: number; h: number }, width: number, height: number, rng: Rng): { view: Affine; scale: number } {
  const fit = Math.min(width / extent.w, height / extent.h) * rng.uniform(0.8, 0.95);
  const mirror = rng.chance(0.5);
  const cx = extent.x + extent.w / 2;
  const cy = extent.y + extent.h / 2;
  const turn = (rng.uniform(-8, 8) * Math.PI) / 180;
  const scale: Affine = { a: mirror ? -fit : fit, b: 0, c: 0, d: fit, e: 0, f: 0 };
  const place = translation(width * (0.5 + rng.uniform(-0.05, 0.05)), height * (0.5 + rng.uniform(-0.05, 0.05)));
  return { view: compose(place, compose(rotationAbout(turn, 0, 0), compose(scale, translation(-cx, -cy)))), scale: fit };
}

/** The scene → display values 0…1 (bone bright, air dark), with an L/R marker burned in. */
export function renderXray(scene: XrayScene, width: number, height: number, rng: Rng): Float32Array {
  const extent = scene.extent ?? bounds(scene.skin);
  if (extent === undefined) throw new RangeError('an X-ray scene needs a skin outline');
  const { view, scale } = frame(extent, width, height, rng);
  const exposure = sampleExposure(rng, width);

  const soft = createCanvas(width, height);
  for (const outline of scene.skin) fillPolygon(soft, transform(outline, view), 1);
  // Union of the outlines, then a soft edge: skin and fat thin out towards the edge.
  for (let i = 0; i < soft.data.length; i++) soft.data[i] = Math.min(1, soft.data[i]!) * scene.skinDensity;
  gaussianBlur(soft, scene.skinFade * scale);
  const bone = createCanvas(width, height);
  for (const shape of scene.shapes) fillPolygon(shape.layer === 'bone' ? bone : soft, transform(shape.points, view), shape.density);
  addTexture(bone, exposure.texture, exposure.textureCell, rng);
  for (let i = 0; i < soft.data.length; i++) soft.data[i]! += bone.data[i]!;
  gaussianBlur(soft, exposure.blur);
  develop(soft, exposure, rng);
  drawMarker(soft, {
    letter: rng.pick(['L', 'R'] as const),
    corner: rng.pick([0, 1, 2, 3] as const),
    light: rng.chance(0.6),
    margin: Math.round(rng.uniform(0.015, 0.05) * width),
  });
  return soft.data;
}

/** Attenuation → photons with noise → inverted, windowed, gamma-corrected display value. */
function develop(canvas: Canvas, exposure: Exposure, rng: Rng): void {
  const { data } = canvas;
  const { attenuation, photons, electronic, black, gamma } = exposure;
  const range = exposure.white - black;
  for (let i = 0; i < data.length; i++) {
    let p = Math.exp(-attenuation * data[i]!);
    // Quantum noise grows with the count's square root: relatively noisier behind bone.
    p += Math.sqrt(p / photons) * rng.normal() + electronic * rng.normal();
    const v = (1 - p - black) / range;
    data[i] = v <= 0 ? 0 : v >= 1 ? 1 : Math.pow(v, gamma);
  }
}
