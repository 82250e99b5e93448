/**
 * `photos`: procedural stand-ins for photographs: skies and plasma clouds, landscapes
 * (sky, sun, layered ridges, ground), marble and wood textures, a night scene of out-of-focus
 * lights, in colour and in grey. They have what photographs have and radiographs lack:
 * colour, 1/f texture, horizons, perspective haze. Real photographs come from
 * scripts/ood/debian-photos.sh.
 */
import type { Rng } from '../prng.js';
import { colourise, fractalNoise, plasma, valueNoise, type Stop } from './field.js';
import { variantFor, type ItemContext, type OodItem } from './item.js';
import { floatImage, toPixels, type FloatImage } from './picture.js';

const VARIANTS = ['clouds', 'landscape', 'marble', 'bokeh', 'wood', 'landscape-grey', 'plasma-grey'] as const;
type PhotoKind = (typeof VARIANTS)[number];

export function makePhoto({ index, rng, width, height }: ItemContext): OodItem {
  const variant = variantFor(VARIANTS, index);
  // Photographs come in both orientations.
  const [w, h] = rng.chance(0.5) ? [width, height] : [height, width];
  const image = floatImage(w, h, 3);
  draw(variant, image, rng);
  // Every camera adds a little vignetting and sensor noise.
  finish(image, rng);
  const grey = variant.endsWith('-grey');
  return { variant, picture: toPixels(grey ? toGrey(image) : image), format: 'png', source: `photos ${variant} ${w}x${h}` };
}

function draw(kind: PhotoKind, image: FloatImage, rng: Rng): void {
  switch (kind) {
    case 'clouds':
      return clouds(image, rng);
    case 'landscape':
    case 'landscape-grey':
      return landscape(image, rng);
    case 'marble':
      return marble(image, rng);
    case 'bokeh':
      return bokeh(image, rng);
    case 'wood':
      return wood(image, rng);
    case 'plasma-grey':
      return plasmaPalette(image, rng);
  }
}

function clouds(image: FloatImage, rng: Rng): void {
  const { width, height } = image;
  const field = plasma(width, height, rng.uniform(0.45, 0.6), rng);
  const sky: Stop[] = [
    [0, rng.uniform(0.1, 0.25), rng.uniform(0.3, 0.45), rng.uniform(0.6, 0.85)],
    [0.55, 0.45, 0.6, 0.85],
    [0.75, 0.85, 0.88, 0.92],
    [1, 1, 1, 1],
  ];
  colourise(field, sky, image.data);
}

/** Sky gradient, a sun, three hazy ridges (farther = paler and bluer) and textured ground. */
function landscape(image: FloatImage, rng: Rng): void {
  const { width, height, data } = image;
  const top = [rng.uniform(0.1, 0.3), rng.uniform(0.3, 0.5), rng.uniform(0.6, 0.9)];
  const horizonSky = [rng.uniform(0.7, 1), rng.uniform(0.6, 0.85), rng.uniform(0.5, 0.8)];
  for (let y = 0; y < height; y++) {
    const t = y / height;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = top[c]! + (horizonSky[c]! - top[c]!) * t;
    }
  }
  const sunX = rng.uniform(0.15, 0.85) * width;
  const sunY = rng.uniform(0.1, 0.35) * height;
  const sunR = rng.uniform(0.04, 0.08) * Math.min(width, height);
  softDisc(image, sunX, sunY, sunR, [1, 0.95, 0.75], 1, sunR * 0.15);
  softDisc(image, sunX, sunY, sunR * 3, [1, 0.9, 0.7], 0.25, sunR * 2);
  const ridges = 3;
  const ground = [rng.uniform(0.15, 0.35), rng.uniform(0.3, 0.5), rng.uniform(0.1, 0.2)];
  const haze = [0.75, 0.8, 0.9];
  for (let r = 0; r < ridges; r++) {
    const base = height * (0.4 + 0.12 * r + rng.uniform(-0.04, 0.04));
    const amplitude = height * rng.uniform(0.05, 0.15);
    const profile = ridge(width, rng);
    const far = 1 - (r + 1) / ridges;
    const colour = ground.map((g, c) => g + (haze[c]! - g) * far * 0.8);
    const texture = fractalNoise(width, height, { cell: width / 8, octaves: 4, persistence: 0.6 }, rng);
    for (let x = 0; x < width; x++) {
      const skyline = base - amplitude * profile[x]!;
      for (let y = Math.max(0, Math.floor(skyline)); y < height; y++) {
        const i = y * width + x;
        // Anti-aliased skyline; texture strongest on the nearest ridge.
        const cover = Math.min(1, y + 1 - skyline);
        const shade = 0.8 + 0.4 * (texture[i]! - 0.5) * (1 - far) + 0.15 * ((y - skyline) / height);
        for (let c = 0; c < 3; c++) data[i * 3 + c] = data[i * 3 + c]! * (1 - cover) + colour[c]! * shade * cover;
      }
    }
  }
}

function ridge(width: number, rng: Rng): Float32Array {
  const out = new Float32Array(width);
  let amplitude = 1;
  let cell = width / rng.uniform(1.5, 3);
  for (let octave = 0; octave < 5; octave++) {
    const layer = valueNoise(width, 1, Math.max(1, cell), rng);
    for (let x = 0; x < width; x++) out[x]! += amplitude * layer[x]!;
    amplitude *= 0.5;
    cell /= 2;
  }
  return out;
}

/** Veins: a sine bent by turbulence, through a stone-coloured ramp. */
function marble(image: FloatImage, rng: Rng): void {
  const { width, height } = image;
  const turbulence = fractalNoise(width, height, { cell: width / 3, octaves: 5, persistence: 0.55 }, rng);
  const frequency = rng.uniform(3, 8) / width;
  const angle = rng.uniform(0, Math.PI);
  const power = rng.uniform(5, 10);
  const field = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const along = x * Math.cos(angle) + y * Math.sin(angle);
      field[y * width + x] = 0.5 + 0.5 * Math.sin(2 * Math.PI * (along * frequency + power * turbulence[y * width + x]!));
    }
  }
  const tint = [rng.uniform(0.8, 1), rng.uniform(0.75, 0.95), rng.uniform(0.7, 0.9)] as const;
  colourise(field, [
    [0, 0.25, 0.22, 0.2],
    [0.35, tint[0] * 0.7, tint[1] * 0.7, tint[2] * 0.7],
    [1, tint[0], tint[1], tint[2]],
  ], image.data);
}

/** Growth rings around an off-frame pith, wobbled by noise, with fine grain. */
function wood(image: FloatImage, rng: Rng): void {
  const { width, height } = image;
  const cx = rng.uniform(-0.5, 1.5) * width;
  const cy = rng.uniform(-1, -0.2) * height;
  const rings = rng.uniform(0.04, 0.1);
  const wobble = fractalNoise(width, height, { cell: width / 4, octaves: 3, persistence: 0.5 }, rng);
  const grain = fractalNoise(width, height, { cell: 3, octaves: 1, persistence: 0.5 }, rng);
  const field = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const r = Math.hypot(x - cx, (y - cy) * 0.6) * rings + 6 * wobble[i]!;
      field[i] = 0.7 * (r - Math.floor(r)) + 0.3 * grain[i]!;
    }
  }
  colourise(field, [
    [0, 0.55, 0.35, 0.18],
    [0.6, 0.7, 0.48, 0.27],
    [1, 0.4, 0.24, 0.12],
  ], image.data);
}

/** A night photograph out of focus: soft coloured discs of light on a dark gradient. */
function bokeh(image: FloatImage, rng: Rng): void {
  const { width, height, data } = image;
  const base = [rng.uniform(0, 0.1), rng.uniform(0, 0.08), rng.uniform(0.05, 0.2)];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = base[c]! * (0.5 + y / height);
    }
  }
  const lights = rng.int(15, 45);
  const hue = rng.next();
  for (let k = 0; k < lights; k++) {
    const r = rng.uniform(0.03, 0.12) * Math.min(width, height);
    const colour = hsv((hue + rng.uniform(-0.12, 0.12) + 1) % 1, rng.uniform(0.3, 0.9), 1);
    softDisc(image, rng.uniform(0, width), rng.uniform(0, height), r, colour, rng.uniform(0.15, 0.5), 1.5);
  }
}

/** Plasma through a topographic ramp: an aerial view of terrain, shown in grey. */
function plasmaPalette(image: FloatImage, rng: Rng): void {
  const field = plasma(image.width, image.height, rng.uniform(0.5, 0.65), rng);
  colourise(field, [
    [0, 0.05, 0.15, 0.4],
    [0.4, 0.2, 0.5, 0.7],
    [0.45, 0.8, 0.75, 0.5],
    [0.6, 0.2, 0.55, 0.2],
    [0.85, 0.45, 0.35, 0.25],
    [1, 0.95, 0.95, 0.95],
  ], image.data);
}

/** Blends a disc of `colour` over the image with an edge `soft` pixels wide; `alpha` is its opacity. */
function softDisc(image: FloatImage, cx: number, cy: number, radius: number, colour: readonly number[], alpha: number, soft: number): void {
  const { width, height, data } = image;
  const reach = radius + soft;
  for (let y = Math.max(0, Math.floor(cy - reach)); y < Math.min(height, Math.ceil(cy + reach)); y++) {
    for (let x = Math.max(0, Math.floor(cx - reach)); x < Math.min(width, Math.ceil(cx + reach)); x++) {
      const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
      const cover = alpha * Math.min(1, Math.max(0, (reach - d) / Math.max(soft, 0.5)));
      if (cover <= 0) continue;
      const i = (y * width + x) * 3;
      // Screen blend: lights add up without clipping hard.
      for (let c = 0; c < 3; c++) data[i + c] = 1 - (1 - data[i + c]!) * (1 - cover * colour[c]!);
    }
  }
}

function finish(image: FloatImage, rng: Rng): void {
  const { width, height, data } = image;
  const vignette = rng.uniform(0.1, 0.35);
  const noise = rng.uniform(0.005, 0.02);
  const cx = width / 2;
  const cy = height / 2;
  const far = Math.hypot(cx, cy);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const fall = 1 - vignette * (Math.hypot(x - cx, y - cy) / far) ** 2;
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        data[i] = data[i]! * fall + noise * rng.normal();
      }
    }
  }
}

/** Rec. 601 luma: what a grey photograph would record. */
function toGrey(image: FloatImage): FloatImage {
  const grey = floatImage(image.width, image.height, 1);
  for (let i = 0; i < grey.data.length; i++) {
    grey.data[i] = 0.299 * image.data[i * 3]! + 0.587 * image.data[i * 3 + 1]! + 0.114 * image.data[i * 3 + 2]!;
  }
  return grey;
}

function hsv(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number): number => {
    const k = (n + h * 6) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5), f(3), f(1)];
}
