/**
 * Image files for the image-quality gate (src/imaging/quality.ts): ordinary acquisition shifts
 * of a phantom that must pass, and frames that must be refused. Each one is written as a real
 * file (PNG or JPEG bytes) so it goes through the real decoders. Used by
 * test/imaging/quality.test.ts and scripts/quality-thresholds.ts (the defaults' measurements).
 */
import sharp, { type Sharp } from 'sharp';
import { decodeImage } from '../../src/imaging/decode.js';

/** One gray frame at its native depth. */
export interface Gray {
  width: number;
  height: number;
  bits: 8 | 16;
  pixels: Uint8Array | Uint16Array;
}

export type Expectation = 'pass' | 'E_QUALITY_BLANK' | 'E_QUALITY_SATURATED' | 'E_QUALITY_LOW_CONTRAST' | 'E_QUALITY_COLOUR' | 'E_QUALITY_TOO_SMALL' | 'refuse';

export interface Variant {
  name: string;
  /** What the gate must answer: pass, a code, or `refuse` (any E_QUALITY_* code). */
  expect: Expectation;
  /** Only for phantoms of this depth. */
  bits?: 8 | 16;
  make(phantom: Gray, seed: number): Promise<Buffer>;
}

const LIMITS = { maxPixels: 64_000_000 };

/** A PNG (or other file) read through the real decoder. */
export async function loadGray(bytes: Buffer): Promise<Gray> {
  const image = await decodeImage(bytes, LIMITS);
  return { width: image.width, height: image.height, bits: image.bitsPerSample, pixels: image.pixels };
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const fullScale = (bits: 8 | 16): number => (bits === 16 ? 65535 : 255);

/** A frame of the given size from a 0..1 function of the pixel index (clamped). */
export function fromUnit(width: number, height: number, bits: 8 | 16, level: (i: number) => number): Gray {
  const full = fullScale(bits);
  const pixels = bits === 16 ? new Uint16Array(width * height) : new Uint8Array(width * height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(Math.min(1, Math.max(0, level(i))) * full);
  return { width, height, bits, pixels };
}

/** Each sample mapped through a 0..1 → 0..1 function. */
export function mapLevels(g: Gray, f: (level: number, i: number) => number): Gray {
  const full = fullScale(g.bits);
  return fromUnit(g.width, g.height, g.bits, (i) => f(g.pixels[i]! / full, i));
}

export function to8Bit(g: Gray): Gray {
  if (g.bits === 8) return g;
  return { width: g.width, height: g.height, bits: 8, pixels: Uint8Array.from(g.pixels, (v) => Math.round(v / 257)) };
}

function open(g: Gray): Sharp {
  return sharp(g.pixels, { raw: { width: g.width, height: g.height, channels: 1 } });
}

/** A sharp operation at the frame's depth, back to one gray channel. */
export async function viaSharp(g: Gray, op: (image: Sharp) => Sharp): Promise<Gray> {
  const sixteen = g.bits === 16;
  const { data, info } = await op(open(g))
    .toColourspace(sixteen ? 'grey16' : 'b-w')
    .extractChannel(0)
    .raw({ depth: sixteen ? 'ushort' : 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const pixels = sixteen ? new Uint16Array(Uint8Array.from(data).buffer) : new Uint8Array(data);
  return { width: info.width, height: info.height, bits: g.bits, pixels };
}

export function png(g: Gray): Promise<Buffer> {
  return open(g).toColourspace(g.bits === 16 ? 'grey16' : 'b-w').png().toBuffer();
}

export function jpeg(g: Gray, quality: number): Promise<Buffer> {
  return open(to8Bit(g)).toColourspace('b-w').jpeg({ quality }).toBuffer();
}

/** An 8-bit RGB file from three 0..1 functions of the pixel index. */
export function rgbFile(width: number, height: number, rgb: (i: number) => [number, number, number], format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = rgb(i);
    data[i * 3] = Math.round(Math.min(1, Math.max(0, r)) * 255);
    data[i * 3 + 1] = Math.round(Math.min(1, Math.max(0, g)) * 255);
    data[i * 3 + 2] = Math.round(Math.min(1, Math.max(0, b)) * 255);
  }
  const image = sharp(data, { raw: { width, height, channels: 3 } });
  return format === 'jpeg' ? image.jpeg({ quality: 75 }).toBuffer() : image.png().toBuffer();
}

function rgbOf(g: Gray, f: (level: number) => [number, number, number], format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const full = fullScale(g.bits);
  return rgbFile(g.width, g.height, (i) => f(g.pixels[i]! / full), format);
}

/** The jet colour map: how many viewers show a radiograph in false colour. */
function jet(v: number): [number, number, number] {
  const c = (x: number) => Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - x)));
  return [c(3), c(2), c(1)];
}

/** The level (0..1) under which `share` of the samples lie. */
function quantile(g: Gray, share: number): number {
  const sorted = Float64Array.from(g.pixels).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]! / fullScale(g.bits);
}

/** Black collimation borders: `share` of the width and height on each side. */
function collimate(g: Gray, share: number): Gray {
  const bx = Math.round(g.width * share);
  const by = Math.round(g.height * share);
  return mapLevels(g, (v, i) => {
    const x = i % g.width;
    const y = Math.floor(i / g.width);
    return x < bx || x >= g.width - bx || y < by || y >= g.height - by ? 0 : v;
  });
}

/** The phantom scaled to `scale` of its size in the middle of a black frame of its own size. */
async function thumbnail(g: Gray, scale: number): Promise<Gray> {
  const small = await viaSharp(g, (image) => image.resize(Math.round(g.width * scale), Math.round(g.height * scale)));
  const x0 = Math.floor((g.width - small.width) / 2);
  const y0 = Math.floor((g.height - small.height) / 2);
  const full = fullScale(g.bits);
  return fromUnit(g.width, g.height, g.bits, (i) => {
    const x = (i % g.width) - x0;
    const y = Math.floor(i / g.width) - y0;
    return x >= 0 && y >= 0 && x < small.width && y < small.height ? small.pixels[y * small.width + x]! / full : 0;
  });
}

/** Ordinary acquisition and export differences: every phantom must still pass. */
export const PASS_VARIANTS: Variant[] = [
  { name: 'phantom as generated', expect: 'pass', make: (g) => png(g) },
  { name: 'blurred (σ 0.6% of width)', expect: 'pass', make: async (g) => png(await viaSharp(g, (image) => image.blur(Math.max(1, g.width * 0.006)))) },
  {
    name: 'noise σ 3%',
    expect: 'pass',
    make: (g, seed) => {
      const noise = gaussian(mulberry32(seed));
      return png(mapLevels(g, (v) => v + 0.03 * noise()));
    },
  },
  { name: 'gamma 0.7', expect: 'pass', make: (g) => png(mapLevels(g, (v) => v ** 0.7)) },
  { name: 'gamma 1.4', expect: 'pass', make: (g) => png(mapLevels(g, (v) => v ** 1.4)) },
  { name: 'JPEG q25', expect: 'pass', make: (g) => jpeg(g, 25) },
  { name: 'downsampled to 50%', expect: 'pass', make: async (g) => png(await viaSharp(g, (image) => image.resize(Math.round(g.width / 2), Math.round(g.height / 2)))) },
  { name: 'downsampled to a third', expect: 'pass', make: async (g) => png(await viaSharp(g, (image) => image.resize(Math.round(g.width / 3), Math.round(g.height / 3)))) },
  { name: 'rotated +10°, black fill', expect: 'pass', make: async (g) => png(await viaSharp(g, (image) => image.rotate(10, { background: '#000000' }))) },
  { name: 'rotated −10°, black fill', expect: 'pass', make: async (g) => png(await viaSharp(g, (image) => image.rotate(-10, { background: '#000000' }))) },
  { name: 'collimated, 10% black each side', expect: 'pass', make: (g) => png(collimate(g, 0.1)) },
  { name: 'collimated, 20% black each side', expect: 'pass', make: (g) => png(collimate(g, 0.2)) },
  { name: 'mirrored', expect: 'pass', make: async (g) => png(await viaSharp(g, (image) => image.flop())) },
  { name: 'darker exposure (×0.6)', expect: 'pass', make: (g) => png(mapLevels(g, (v) => v * 0.6)) },
  { name: 'brighter exposure (×1.3, clipped)', expect: 'pass', make: (g) => png(mapLevels(g, (v) => v * 1.3)) },
  { name: 'gray saved as RGB PNG (R=G=B)', expect: 'pass', make: (g) => rgbOf(g, (v) => [v, v, v]) },
  { name: 'gray saved as RGB JPEG q75', expect: 'pass', make: (g) => rgbOf(g, (v) => [v, v, v], 'jpeg') },
  { name: 'warm-tinted film scan (RGB)', expect: 'pass', make: (g) => rgbOf(g, (v) => [v, 0.96 * v, 0.88 * v]) },
];

/** Frames a radiograph classifier must not judge: each must be refused, with the code named. */
export const FAIL_VARIANTS: Variant[] = [
  { name: 'all black', expect: 'E_QUALITY_BLANK', make: (g) => png(fromUnit(g.width, g.height, g.bits, () => 0)) },
  { name: 'all white (saturated detector)', expect: 'E_QUALITY_BLANK', make: (g) => png(fromUnit(g.width, g.height, g.bits, () => 1)) },
  {
    name: 'uniform grey, random level',
    expect: 'E_QUALITY_BLANK',
    make: (g, seed) => {
      const level = 0.1 + 0.8 * mulberry32(seed)();
      return png(fromUnit(g.width, g.height, g.bits, () => level));
    },
  },
  {
    name: 'uniform grey + faint noise σ 1%',
    expect: 'E_QUALITY_BLANK',
    make: (g, seed) => {
      const random = mulberry32(seed);
      const level = 0.2 + 0.6 * random();
      const noise = gaussian(random);
      return png(fromUnit(g.width, g.height, g.bits, () => level + 0.01 * noise()));
    },
  },
  {
    name: 'lens cap: dark + noise σ 1.5%',
    expect: 'E_QUALITY_BLANK',
    make: (g, seed) => {
      const noise = gaussian(mulberry32(seed));
      return png(fromUnit(g.width, g.height, g.bits, () => 0.03 + 0.015 * noise()));
    },
  },
  {
    name: 'failed exposure, noise windowed to full range',
    expect: 'E_QUALITY_BLANK',
    make: (g, seed) => {
      const noise = gaussian(mulberry32(seed));
      return png(fromUnit(g.width, g.height, g.bits, () => 0.5 + 0.18 * noise()));
    },
  },
  {
    name: 'unexposed plate with only the lead marker',
    expect: 'refuse',
    make: (g) => {
      const side = Math.round(g.width * 0.05);
      return png(fromUnit(g.width, g.height, g.bits, (i) => (i % g.width >= g.width - 2 * side && i % g.width < g.width - side && Math.floor(i / g.width) >= side && Math.floor(i / g.width) < 2 * side ? 1 : 0)));
    },
  },
  {
    name: 'over-exposed: brightest 40% clipped to white',
    expect: 'E_QUALITY_SATURATED',
    make: (g) => {
      const q = quantile(g, 0.6);
      return png(mapLevels(g, (v) => v / q));
    },
  },
  { name: 'lower 60% of the detector saturated', expect: 'E_QUALITY_SATURATED', make: (g) => png(mapLevels(g, (v, i) => (i >= g.width * Math.round(g.height * 0.4) ? 1 : v))) },
  {
    name: 'burnt out: darkest 85% crushed to black',
    expect: 'E_QUALITY_SATURATED',
    make: (g) => {
      const q = quantile(g, 0.85);
      return png(mapLevels(g, (v) => (v - q) / (1 - q)));
    },
  },
  { name: 'contrast squeezed to 10% (0.45–0.55)', expect: 'E_QUALITY_LOW_CONTRAST', make: (g) => png(mapLevels(g, (v) => 0.45 + 0.1 * v)) },
  { name: 'contrast squeezed to 15% (0.05–0.20)', expect: 'E_QUALITY_LOW_CONTRAST', make: (g) => png(mapLevels(g, (v) => 0.05 + 0.15 * v)) },
  { name: '12-bit data in a 16-bit file', expect: 'E_QUALITY_LOW_CONTRAST', bits: 16, make: (g) => png({ ...g, pixels: Uint16Array.from(g.pixels, (v) => v >> 4) }) },
  { name: 'false colour (jet)', expect: 'E_QUALITY_COLOUR', make: (g) => rgbOf(g, jet) },
  { name: 'blue-toned duotone', expect: 'E_QUALITY_COLOUR', make: (g) => rgbOf(g, (v) => [0.45 * v, 0.75 * v, v]) },
  {
    name: 'colour scene (photograph stand-in)',
    expect: 'E_QUALITY_COLOUR',
    make: (g, seed) => {
      const random = mulberry32(seed);
      const patches = Array.from({ length: 12 }, () => ({ x: random(), y: random(), r: 0.1 + 0.3 * random(), c: [random(), random(), random()] as [number, number, number] }));
      const noise = gaussian(random);
      return rgbFile(g.width, g.height, (i) => {
        const x = (i % g.width) / g.width;
        const y = Math.floor(i / g.width) / g.height;
        let colour: [number, number, number] = [0.55 + 0.3 * y, 0.6, 0.35 + 0.4 * x];
        for (const p of patches) if ((x - p.x) ** 2 + (y - p.y) ** 2 < p.r ** 2) colour = p.c;
        const n = 0.02 * noise();
        return [colour[0] + n, colour[1] + n, colour[2] + n];
      }, 'jpeg');
    },
  },
  { name: 'thumbnail icon, 48 px wide', expect: 'E_QUALITY_TOO_SMALL', make: async (g) => png(await viaSharp(g, (image) => image.resize(48))) },
  { name: 'thumbnail (25%) in a black frame', expect: 'E_QUALITY_TOO_SMALL', make: async (g) => png(await thumbnail(g, 0.25)) },
];
