/**
 * Fresh c-spine phantoms for the phantom-derived categories. Case i is drawn exactly as
 * `cspine-edge synth --seed <phantomRunSeed(seed)> --size WxH` draws its case i (same case
 * seed, class PHANTOM_LABELS[i % 3], 8-bit), so a shifted image can always be compared with
 * its unshifted original, and the set can be checked against generatePhantoms.
 */
import { PHANTOM_LABELS, phantomParams, renderPhantom } from '../generate.js';
import { caseSeed } from '../prng.js';
import { quantise } from '../quantise.js';
import type { FreshPhantom } from './item.js';

export function freshPhantom(runSeed: number, index: number, width: number, height: number): FreshPhantom {
  const label = PHANTOM_LABELS[index % PHANTOM_LABELS.length]!;
  const rendered = renderPhantom(phantomParams(caseSeed(runSeed, index), label, width, height));
  return {
    index,
    label,
    width,
    height,
    samples: quantise(rendered.pixels, 8) as Uint8Array,
    source: `synth seed=${runSeed} case=${index}`,
  };
}
