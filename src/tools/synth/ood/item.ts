/** The contract between the OOD writer and the category generators. */
import type { PhantomLabel } from '../lesion.js';
import type { Rng } from '../prng.js';
import type { OodFormat } from './encode.js';
import type { Picture } from './picture.js';

/** far-ood: not a c-spine radiograph; near-ood: a phantom the wrong way round; in-distribution: must still be classified. */
export type OodGroup = 'far-ood' | 'near-ood' | 'in-distribution';

/** Case `index` of the phantom run, exactly as `cspine-edge synth` writes it (8-bit). */
export interface FreshPhantom {
  index: number;
  label: PhantomLabel;
  width: number;
  height: number;
  samples: Uint8Array;
  /** e.g. "synth seed=900007 case=3": enough to make the same phantom again. */
  source: string;
}

export interface ItemContext {
  index: number;
  /** This item's own stream (seeds.ts itemSeed). */
  rng: Rng;
  /** The run's --size; categories may depart from it where size is the point (blank). */
  width: number;
  height: number;
  /** Case `index` of the phantom run, drawn once and shared by every phantom-derived category. */
  phantom: () => FreshPhantom;
}

export interface OodItem {
  /** Short kebab-case name of what was drawn; goes into the file name. */
  variant: string;
  picture: Picture;
  format: OodFormat;
  quality?: number;
  /** The true class, for phantom-derived images only. */
  label?: PhantomLabel;
  /** Where it came from: the phantom case or the generator and its settings (no commas). */
  source: string;
}

export type ItemMaker = (context: ItemContext) => OodItem;

/** Variants are taken in turn, so any count ≥ the number of variants has them all. */
export function variantFor<T>(variants: readonly T[], index: number): T {
  return variants[index % variants.length]!;
}

/** A random frame size: constant frames differ between seeds only by their size. */
export function randomFrameSize(rng: Rng): [number, number] {
  return [rng.int(64, 1280), rng.int(64, 1280)];
}
