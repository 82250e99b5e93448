/**
 * `blank`: frames with no picture at all, the commonest junk a detector sends (lens cap,
 * no exposure, a wrong window). Black, near-black with faint noise, white-ish, mid-grey;
 * every kind in 8 and 16 bits and in several sizes, up to a detector's 1024×1280.
 */
import type { Rng } from '../prng.js';
import { randomFrameSize, variantFor, type ItemContext, type OodItem } from './item.js';
import { floatImage, toPixels, uniformPixels, type Pixels } from './picture.js';

const KINDS = ['black', 'near-black', 'white', 'mid-grey'] as const;
type BlankKind = (typeof KINDS)[number];

export function makeBlank({ index, rng, width, height }: ItemContext): OodItem {
  const kind = variantFor(KINDS, index);
  // 8 bits for the first round of kinds, 16 for the second, and so on.
  const bits: 8 | 16 = Math.floor(index / KINDS.length) % 2 === 0 ? 8 : 16;
  const [w, h] = kind === 'near-black' ? rng.pick([[width, height], [1024, 1280], [512, 640]] as const) : randomFrameSize(rng);
  const pixels = draw(kind, w, h, bits, rng);
  return { variant: `${kind}-${bits}bit`, picture: pixels, format: 'png', source: `blank ${kind} ${bits}-bit ${w}x${h}` };
}

function draw(kind: BlankKind, width: number, height: number, bits: 8 | 16, rng: Rng): Pixels {
  const max = bits === 8 ? 255 : 65535;
  switch (kind) {
    case 'black':
      return uniformPixels(width, height, 1, bits, 0);
    case 'white':
      // White-ish: an open field just under saturation.
      return uniformPixels(width, height, 1, bits, Math.round(rng.uniform(0.9, 0.995) * max));
    case 'mid-grey':
      return uniformPixels(width, height, 1, bits, Math.round(rng.uniform(0.35, 0.65) * max));
    case 'near-black': {
      // An unexposed detector: dark offset plus read noise of a few grey levels.
      const level = rng.uniform(0, 0.02);
      const sigma = rng.uniform(0.002, 0.01);
      const image = floatImage(width, height);
      for (let i = 0; i < image.data.length; i++) image.data[i] = level + sigma * rng.normal();
      return toPixels(image, bits);
    }
  }
}
