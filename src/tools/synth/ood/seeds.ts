/**
 * Seeds of the OOD sets. Everything random comes from `--seed` through these two rules, so
 * a run is reproducible byte for byte and two seeds give two unrelated sets (a validation
 * set from one seed, a test set from another).
 */
import { caseSeed, combine } from '../prng.js';

/**
 * The phantom-derived categories (near-ood, in-distribution, the overexposed frames) use
 * case i of a `cspine-edge synth` run with this run seed. The offset keeps it far away
 * from the training seeds (101–114) and the held-out seeds (1–3), whatever `--seed` is, so
 * an OOD set never repeats a patient the model was trained or tested on.
 */
export const PHANTOM_SEED_OFFSET = 900_000;

/** Largest `--seed` whose phantom run seed is still an exact (safe) integer. */
export const MAX_OOD_SEED = Number.MAX_SAFE_INTEGER - PHANTOM_SEED_OFFSET;

export function phantomRunSeed(seed: number): number {
  return PHANTOM_SEED_OFFSET + seed;
}

/**
 * The seed of item `index` of `category`: the run's case seed folded with the category's
 * name, so categories do not share random streams and item i does not depend on `--count`.
 */
export function itemSeed(seed: number, category: string, index: number): number {
  let hash = 0x00d0_0d5e;
  for (let i = 0; i < category.length; i++) hash = combine(hash, category.charCodeAt(i));
  return combine(caseSeed(seed, index), hash);
}
