/**
 * `generateOodSets`: writes every requested OOD category to outDir/<category>/ and lists the
 * images in outDir/ood.csv (docs/phantoms.md, "OOD test sets").
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Rng } from '../prng.js';
import { CATEGORY_SPECS, isOodCategory, OOD_CATEGORIES, type OodCategory } from './catalogue.js';
import { writeCsv, type OodRow } from './csv.js';
import { writePicture } from './encode.js';
import type { FreshPhantom, ItemContext } from './item.js';
import { freshPhantom } from './phantom.js';
import { itemSeed, MAX_OOD_SEED, phantomRunSeed } from './seeds.js';

export { OOD_CATEGORIES, CATEGORY_SPECS, type OodCategory } from './catalogue.js';
export { OOD_CSV_HEADER } from './csv.js';
export { PHANTOM_SEED_OFFSET, phantomRunSeed } from './seeds.js';

export interface OodSetOptions {
  outDir: string;
  seed: number;
  /** Images per category. */
  count: number;
  /** Default: all of OOD_CATEGORIES, in that order. */
  categories?: readonly string[];
  /** Default 256 × 320, the phantom size; some categories vary it on purpose. */
  width?: number;
  height?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface OodSetResult {
  files: number;
  csv: string;
  perCategory: Partial<Record<OodCategory, number>>;
  /** The run seed of the phantom-derived categories (phantomRunSeed(seed)). */
  phantomSeed: number;
}

const MIN_SIDE = 64;
const MAX_SIDE = 4096;
const MAX_COUNT = 1_000_000;
/** Encoding runs on libuv's pool while the next image is drawn on this thread. */
const IN_FLIGHT = 4;

export async function generateOodSets(options: OodSetOptions): Promise<OodSetResult> {
  const { outDir, seed, count, width = 256, height = 320, onProgress } = options;
  const categories = validate(options);
  const phantomSeed = phantomRunSeed(seed);

  for (const category of categories) await mkdir(path.join(outDir, category), { recursive: true });
  const csv = path.join(outDir, 'ood.csv');
  // A previous run's list must not describe images this run is overwriting.
  await rm(csv, { force: true });

  const rows = new Map<OodCategory, OodRow[]>(categories.map((c) => [c, []]));
  const total = count * categories.length;
  const pending: Promise<void>[] = [];
  let done = 0;
  try {
    // Index outside, category inside: case i's phantom is drawn once and shared.
    for (let index = 0; index < count; index++) {
      let fresh: FreshPhantom | undefined;
      const phantom = (): FreshPhantom => (fresh ??= freshPhantom(phantomSeed, index, width, height));
      for (const category of categories) {
        const spec = CATEGORY_SPECS[category];
        const context: ItemContext = { index, rng: new Rng(itemSeed(seed, category, index)), width, height, phantom };
        const item = spec.make(context);
        const file = `${category}/${String(index).padStart(6, '0')}-${item.variant}.${item.format}`;
        const written = writePicture(item.picture, path.join(outDir, ...file.split('/')), { format: item.format, ...(item.quality === undefined ? {} : { quality: item.quality }) }).then(() => {
          done++;
          onProgress?.(done, total);
        });
        // Handled here so a failure while an earlier write is awaited is not an unhandled
        // rejection; it is still thrown when its turn comes.
        written.catch(() => undefined);
        pending.push(written);
        rows.get(category)!.push({ file, category, group: spec.group, ...(item.label === undefined ? {} : { label: item.label }), source: item.source });
        if (pending.length >= IN_FLIGHT) await pending.shift();
      }
    }
    await Promise.all(pending);
  } catch (error) {
    await Promise.allSettled(pending);
    throw error;
  }

  await writeCsv(csv, categories.flatMap((c) => rows.get(c)!));
  const perCategory: Partial<Record<OodCategory, number>> = {};
  for (const category of categories) perCategory[category] = count;
  return { files: total, csv, perCategory, phantomSeed };
}

/** Throws RangeError before anything is written; returns the categories in catalogue order. */
function validate(options: OodSetOptions): OodCategory[] {
  const { seed, count, width = 256, height = 320, categories } = options;
  if (!Number.isInteger(count) || count < 0 || count > MAX_COUNT) throw new RangeError(`count must be a whole number from 0 to ${MAX_COUNT}, not ${count}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_OOD_SEED) throw new RangeError(`seed must be a whole number from 0 to ${MAX_OOD_SEED}, not ${seed}`);
  for (const [name, side] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(side) || side < MIN_SIDE || side > MAX_SIDE) throw new RangeError(`${name} must be a whole number from ${MIN_SIDE} to ${MAX_SIDE}, not ${side}`);
  }
  if (categories === undefined) return [...OOD_CATEGORIES];
  if (categories.length === 0) throw new RangeError('categories must name at least one category');
  const unknown = categories.filter((c) => !isOodCategory(c));
  if (unknown.length > 0) throw new RangeError(`unknown categor${unknown.length === 1 ? 'y' : 'ies'} ${unknown.join(', ')}; known: ${OOD_CATEGORIES.join(', ')}`);
  const wanted = new Set(categories);
  if (wanted.size !== categories.length) throw new RangeError('categories must not repeat a name');
  return OOD_CATEGORIES.filter((c) => wanted.has(c));
}
