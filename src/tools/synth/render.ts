import { createCanvas, fillPolygon, gaussianBlur } from './canvas.js';
import { addTexture, collimate, develop } from './film.js';
import { bounds, compose, rotationAbout, transform, translation, type Affine, type Box } from './geometry.js';
import { drawMarker } from './marker.js';
import type { PhantomParams } from './params.js';
import { Rng } from './prng.js';
import { buildScene } from './scene.js';

export interface RenderedPhantom {
  width: number;
  height: number;
  /** Display values 0 (black) … 1 (white), row-major. */
  pixels: Float32Array;
  /** Whole-pixel box around the injured vertebra, inside the image; undefined when normal. */
  box: Box | undefined;
}

/** Draws one phantom. Pure: the same params give the same pixels. */
export function renderPhantom(params: PhantomParams): RenderedPhantom {
  const { width, height, anatomy, lesion, imaging } = params;
  const scene = buildScene(anatomy, lesion);
  const view = viewTransform(params);
  const soft = createCanvas(width, height);
  const bone = createCanvas(width, height);
  for (const shape of scene.shapes) fillPolygon(shape.layer === 'bone' ? bone : soft, transform(shape.points, view), shape.density);

  const rng = new Rng(imaging.noiseSeed);
  addTexture(bone, imaging.texture, imaging.textureCell, rng);
  const total = soft.data;
  for (let y = 0; y < height; y++) {
    const rowGain = 1 + imaging.gradientY * (y / height - 0.5);
    const offset = y * width;
    for (let x = 0; x < width; x++) {
      const i = offset + x;
      total[i] = total[i]! * (rowGain + imaging.gradientX * (x / width - 0.5)) + bone.data[i]!;
    }
  }
  gaussianBlur(soft, imaging.blur);
  develop(soft, imaging, rng);
  collimate(soft, imaging, rng);
  drawMarker(soft, imaging.marker);

  return { width, height, pixels: soft.data, box: pixelBox(scene.lesionOutline.map((p) => transform(p, view)), width, height) };
}

/** Anatomy millimetres → pixels: centre, scale, optional mirror, then the tilt. */
export function viewTransform(params: PhantomParams): Affine {
  const { imaging, anatomy } = params;
  const [ox, oy] = anatomy.centre;
  const s = imaging.scale;
  const scale: Affine = { a: imaging.mirror ? -s : s, b: 0, c: 0, d: s, e: 0, f: 0 };
  return compose(translation(imaging.centreX, imaging.centreY), compose(rotationAbout(imaging.rotation, 0, 0), compose(scale, translation(-ox, -oy))));
}

function pixelBox(outlines: Parameters<typeof bounds>[0], width: number, height: number): Box | undefined {
  const b = bounds(outlines);
  if (b === undefined) return undefined;
  const x0 = Math.max(0, Math.floor(b.x));
  const y0 = Math.max(0, Math.floor(b.y));
  const x1 = Math.min(width, Math.ceil(b.x + b.w));
  const y1 = Math.min(height, Math.ceil(b.y + b.h));
  if (x1 <= x0 || y1 <= y0) return undefined;
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}
