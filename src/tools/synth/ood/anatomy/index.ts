/**
 * `anatomy`: radiographs of other body parts: hand/wrist PA, chest PA and knee AP. They
 * look like X-rays (bright bone, soft-tissue haze, quantum noise, a burned-in marker) but
 * are not a c-spine, the most plausible wrong input on a device beside an X-ray unit. Drawn
 * by this folder's own anatomy; only the generic canvas, texture and marker helpers of the
 * phantom generator are shared.
 */
import { variantFor, type ItemContext, type OodItem } from '../item.js';
import { toPixels } from '../picture.js';
import { buildChest } from './chest.js';
import { buildHand } from './hand.js';
import { buildKnee } from './knee.js';
import { renderXray, type XrayScene } from './xray.js';
import type { Rng } from '../../prng.js';

const VARIANTS: readonly (readonly [string, (rng: Rng) => XrayScene])[] = [
  ['hand-pa', buildHand],
  ['chest-pa', buildChest],
  ['knee-ap', buildKnee],
];

export function makeAnatomy({ index, rng, width, height }: ItemContext): OodItem {
  const [variant, build] = variantFor(VARIANTS, index);
  const data = renderXray(build(rng), width, height, rng);
  return { variant, picture: toPixels({ width, height, channels: 1, data }), format: 'png', source: `anatomy ${variant}` };
}
