/**
 * `noise`: pure noise, no scene: Gaussian, uniform, salt-and-pepper and smooth
 * low-frequency noise, in grey (8 and 16 bits) and colour. A classifier's softmax can be
 * very sure about noise, which is why a detector has to see it.
 */
import type { Rng } from '../prng.js';
import { fractalNoise } from './field.js';
import { variantFor, type ItemContext, type OodItem } from './item.js';
import { floatImage, toPixels, type FloatImage } from './picture.js';

const VARIANTS = ['gaussian', 'uniform', 'salt-and-pepper', 'smooth', 'gaussian-rgb', 'uniform-16bit', 'smooth-rgb'] as const;

export function makeNoise({ index, rng, width, height }: ItemContext): OodItem {
  const variant = variantFor(VARIANTS, index);
  const channels = variant.endsWith('-rgb') ? 3 : 1;
  const image = floatImage(width, height, channels);
  let detail: string;
  switch (variant) {
    case 'gaussian':
    case 'gaussian-rgb':
      detail = gaussian(image, rng);
      break;
    case 'uniform':
    case 'uniform-16bit':
      detail = uniform(image, rng);
      break;
    case 'salt-and-pepper':
      detail = saltAndPepper(image, rng);
      break;
    case 'smooth':
    case 'smooth-rgb':
      detail = smooth(image, rng);
      break;
  }
  const bits = variant === 'uniform-16bit' ? 16 : 8;
  return { variant, picture: toPixels(image, bits), format: 'png', source: `noise ${variant} ${detail}` };
}

function gaussian(image: FloatImage, rng: Rng): string {
  const mean = rng.uniform(0.3, 0.7);
  const sigma = rng.uniform(0.05, 0.3);
  for (let i = 0; i < image.data.length; i++) image.data[i] = mean + sigma * rng.normal();
  return `mean=${mean.toFixed(2)} sigma=${sigma.toFixed(2)}`;
}

function uniform(image: FloatImage, rng: Rng): string {
  const low = rng.uniform(0, 0.4);
  const high = rng.uniform(0.6, 1);
  for (let i = 0; i < image.data.length; i++) image.data[i] = rng.uniform(low, high);
  return `range=${low.toFixed(2)}-${high.toFixed(2)}`;
}

/** Impulse noise on a flat grey: the classic dead/hot pixel pattern, at 2–50 % density. */
function saltAndPepper(image: FloatImage, rng: Rng): string {
  const background = rng.uniform(0.2, 0.8);
  const density = rng.uniform(0.02, 0.5);
  for (let i = 0; i < image.data.length; i++) image.data[i] = rng.chance(density) ? (rng.chance(0.5) ? 1 : 0) : background;
  return `density=${density.toFixed(2)}`;
}

/** Low-frequency noise: blobs a tenth to a third of the frame across, a few octaves. */
function smooth(image: FloatImage, rng: Rng): string {
  const { width, height, channels } = image;
  const cell = Math.max(width, height) * rng.uniform(0.1, 0.33);
  const octaves = rng.int(1, 4);
  for (let c = 0; c < channels; c++) {
    const field = fractalNoise(width, height, { cell, octaves, persistence: 0.5 }, rng);
    for (let i = 0; i < field.length; i++) image.data[i * channels + c] = field[i]!;
  }
  return `cell=${cell.toFixed(0)} octaves=${octaves}`;
}
