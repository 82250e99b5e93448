import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { LEVEL_NAMES } from './anatomy.js';
import { PHANTOM_LABELS, type PhantomLabel } from './lesion.js';
import { measureCase } from './measure.js';
import { phantomParams, VARIATIONS, type PhantomParams, type Variation } from './params.js';
import { caseSeed } from './prng.js';
import { quantise } from './quantise.js';
import { renderPhantom } from './render.js';

export type { PhantomLabel } from './lesion.js';
export { PHANTOM_LABELS } from './lesion.js';
export { phantomParams, VARIATIONS, type PhantomParams, type Variation } from './params.js';
export { renderPhantom, type RenderedPhantom } from './render.js';

export interface SynthOptions {
  outDir: string;
  count: number;
  seed: number;
  /** Default 256. */
  width?: number;
  /** Default 320. */
  height?: number;
  /** Default 8. */
  bits?: 8 | 16;
  onProgress?: (done: number, total: number) => void;
  /** Cycled in order (case i gets classes[i % length]); default all three, balanced. */
  classes?: readonly PhantomLabel[];
  /** Default `standard`, the population the shipped model was trained on (params.ts). */
  variation?: Variation;
}

/**
 * The first eleven columns are the original ones; the clinical measures were appended so that
 * readers that index by position keep working.
 */
export const LABELS_HEADER =
  'file,label,group,seed,vertebra,kind,severity,box_x,box_y,box_w,box_h,variation,mm_per_px,interspace,translation_mm,translation_pct,angulation_deg,height_loss_pct,displacement_mm,criterion_ratio';

/** Sizes outside this range are refused: too small to show a vertebra, or a typo. */
const MIN_SIDE = 64;
const MAX_SIDE = 4096;
/** PNG encoding runs on libuv's pool while the next case is drawn on this thread. */
const IN_FLIGHT = 4;

/**
 * Writes `count` phantoms as PNG into outDir/<label>/ and lists them in outDir/labels.csv.
 * Case i depends only on (seed, i, size, bits, classes, variation), never on count, so a longer run
 * starts with the same files as a shorter one. labels.csv appears only once every image is
 * written (written aside, then renamed). Returns the number of images and the CSV's path.
 */
export async function generatePhantoms(options: SynthOptions): Promise<{ files: number; labelsCsv: string }> {
  const { outDir, count, seed, width = 256, height = 320, bits = 8, onProgress, classes = PHANTOM_LABELS, variation = 'standard' } = options;
  validate({ count, seed, width, height, bits, classes, variation });

  for (const label of new Set(classes)) await mkdir(path.join(outDir, label), { recursive: true });
  const labelsCsv = path.join(outDir, 'labels.csv');
  // A previous run's list must not describe images this run is overwriting.
  await rm(labelsCsv, { force: true });
  const rows: string[] = [LABELS_HEADER];
  const pending: Promise<void>[] = [];
  let done = 0;
  try {
    for (let i = 0; i < count; i++) {
      const label = classes[i % classes.length]!;
      const group = caseSeed(seed, i);
      const params = phantomParams(group, label, width, height, variation);
      const phantom = renderPhantom(params);
      const file = `${label}/phantom-${String(i).padStart(6, '0')}.png`;
      const samples = quantise(phantom.pixels, bits);
      // Without an explicit colourspace sharp writes one raw channel as RGB (8-bit) or
      // quietly as 8-bit (16-bit).
      const image = sharp(samples, { raw: { width, height, channels: 1 } }).toColourspace(bits === 16 ? 'grey16' : 'b-w');
      const target = path.join(outDir, ...file.split('/'));
      const written = image
        .png({ compressionLevel: 6 })
        .toFile(target)
        .then(() => {
          done++;
          onProgress?.(done, count);
        });
      // Handled here so a failure while an earlier write is awaited is not an unhandled
      // rejection; it is still thrown when its turn comes.
      written.catch(() => undefined);
      pending.push(written);
      rows.push([csvRow(file, label, group, seed, params.lesion, phantom.box), variation, ...clinicalCells(params)].join(','));
      if (pending.length >= IN_FLIGHT) await pending.shift();
    }
    await Promise.all(pending);
  } catch (error) {
    // Let writes already started finish (or fail) before reporting the first failure.
    await Promise.allSettled(pending);
    throw error;
  }

  const partial = `${labelsCsv}.partial`;
  await writeFile(partial, `${rows.join('\n')}\n`);
  await rename(partial, labelsCsv);
  return { files: count, labelsCsv };
}

function csvRow(
  file: string,
  label: PhantomLabel,
  group: number,
  seed: number,
  lesion: ReturnType<typeof phantomParams>['lesion'],
  box: { x: number; y: number; w: number; h: number } | undefined,
): string {
  if (lesion.kind === 'none') return [file, label, group, seed, '', 'none', '', '', '', '', ''].join(',');
  const boxCells = box === undefined ? ['', '', '', ''] : [box.x, box.y, box.w, box.h];
  return [file, label, group, seed, LEVEL_NAMES[lesion.level], lesion.kind, lesion.severity.toFixed(3), ...boxCells].join(',');
}

/** mm_per_px … criterion_ratio: the case in clinical units (measure.ts), signed where a direction means something. */
function clinicalCells(params: PhantomParams): string[] {
  const m = measureCase(params.anatomy, params.lesion);
  return [
    fixed(1 / params.imaging.scale, 4),
    `${LEVEL_NAMES[m.interspace]}/${LEVEL_NAMES[m.interspace + 1]}`,
    fixed(m.translationMm, 2),
    fixed(m.translationShare * 100, 2),
    fixed(m.angulationDeg, 2),
    fixed(m.heightLoss * 100, 2),
    m.displacementMm === undefined ? '' : fixed(m.displacementMm, 2),
    fixed(m.criterionRatio, 3),
  ];
}

/** toFixed without "-0.00" for a value that rounds to zero. */
function fixed(value: number, digits: number): string {
  const text = value.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;
}

function validate(o: { count: number; seed: number; width: number; height: number; bits: number; classes: readonly string[]; variation: string }): void {
  if (!Number.isSafeInteger(o.count) || o.count < 0) throw new RangeError(`count must be a whole number ≥ 0, not ${o.count}`);
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new RangeError(`seed must be a whole number ≥ 0, not ${o.seed}`);
  for (const [name, side] of [
    ['width', o.width],
    ['height', o.height],
  ] as const) {
    if (!Number.isInteger(side) || side < MIN_SIDE || side > MAX_SIDE) throw new RangeError(`${name} must be a whole number from ${MIN_SIDE} to ${MAX_SIDE}, not ${side}`);
  }
  if (o.bits !== 8 && o.bits !== 16) throw new RangeError(`bits must be 8 or 16, not ${o.bits}`);
  if (!(VARIATIONS as readonly string[]).includes(o.variation)) throw new RangeError(`variation must be ${VARIATIONS.join(' or ')}, not "${o.variation}"`);
  if (o.classes.length === 0) throw new RangeError('classes must name at least one class');
  for (const label of o.classes) {
    if (!(PHANTOM_LABELS as readonly string[]).includes(label)) throw new RangeError(`unknown class "${label}"; use ${PHANTOM_LABELS.join(', ')}`);
  }
}
