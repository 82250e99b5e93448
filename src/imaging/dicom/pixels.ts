import type { RawSamples } from './codecs.js';
import { Tag, type Dataset } from './dataset.js';

/**
 * Stored values → 16-bit display values, in the order PS3.3 C.11 prescribes:
 *   1. mask the bits outside BitsStored/HighBit (overlays, junk) and sign-extend when
 *      PixelRepresentation = 1;
 *   2. Modality LUT: Rescale Slope/Intercept, or a Modality LUT Sequence;
 *   3. VOI: the first Window Center/Width (LINEAR, LINEAR_EXACT or SIGMOID), else the first
 *      VOI LUT Sequence item (checked for the usual vendor faults), else the data's full range;
 *   4. MONOCHROME1 inversion, after VOI;
 * so that more than 8 bits survive until the preprocess's final resize.
 *
 * Every possible stored value (every one that occurs, where the full range must be found)
 * maps through steps 1–4 once, into a table of at most 65,536 entries; the image is then one
 * table look-up per pixel, with no full-size intermediate.
 */

export interface PixelLayout {
  rows: number;
  columns: number;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: 0 | 1;
  photometric: 'MONOCHROME1' | 'MONOCHROME2';
}

export type ModalityTransform =
  | { kind: 'rescale'; slope: number; intercept: number }
  | { kind: 'lut'; firstMapped: number; data: Uint16Array; bits: number };

export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

export type VoiTransform =
  | { kind: 'window'; center: number; width: number; fn: VoiFunction }
  | { kind: 'lut'; firstMapped: number; data: Uint16Array; bits: number }
  | { kind: 'full-range' };

export interface PixelTransforms {
  modality: ModalityTransform;
  voi: VoiTransform;
  /** What was ignored and why (malformed LUTs, bad windows): for the decoder's details. */
  notes: string[];
}

/** Masked, sign-extended stored values (step 1 only), for tests and tools. */
export function storedValues(raw: RawSamples, layout: PixelLayout): Int32Array {
  const { shift, mask, signBit } = bitLayout(layout);
  const out = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const u = (raw[i]! >> shift) & mask;
    out[i] = signBit !== 0 && u & signBit ? u - (mask + 1) : u;
  }
  return out;
}

function bitLayout(layout: PixelLayout): { shift: number; mask: number; signBit: number } {
  const shift = layout.highBit + 1 - layout.bitsStored;
  const mask = layout.bitsStored >= 32 ? 0xffffffff : (1 << layout.bitsStored) - 1;
  const signBit = layout.pixelRepresentation === 1 ? 1 << (layout.bitsStored - 1) : 0;
  return { shift, mask, signBit };
}

/** Reads the Modality LUT and VOI attributes, keeping only what is usable. */
export function pixelTransforms(dataset: Dataset, layout: PixelLayout): PixelTransforms {
  const notes: string[] = [];
  return { modality: modalityTransform(dataset, layout, notes), voi: voiTransform(dataset, layout, notes), notes };
}

function modalityTransform(dataset: Dataset, layout: PixelLayout, notes: string[]): ModalityTransform {
  const item = dataset.sequence(Tag.ModalityLutSequence)[0];
  if (item) {
    const lut = readLut(item, layout.pixelRepresentation === 1, 'Modality LUT', notes);
    if (lut) return { kind: 'lut', ...lut };
  }
  let slope = dataset.decimal(Tag.RescaleSlope) ?? 1;
  const intercept = dataset.decimal(Tag.RescaleIntercept) ?? 0;
  if (slope === 0) {
    notes.push('Rescale Slope 0 ignored (taken as 1)');
    slope = 1;
  }
  return { kind: 'rescale', slope, intercept };
}

function voiTransform(dataset: Dataset, layout: PixelLayout, notes: string[]): VoiTransform {
  const center = dataset.decimals(Tag.WindowCenter)[0];
  const width = dataset.decimals(Tag.WindowWidth)[0];
  if (center !== undefined || width !== undefined) {
    const named = dataset.string(Tag.VoiLutFunction)?.toUpperCase();
    const fn: VoiFunction = named === 'LINEAR_EXACT' || named === 'SIGMOID' ? named : 'LINEAR';
    if (named !== undefined && named !== fn) notes.push(`VOI LUT Function ${JSON.stringify(named.slice(0, 16))} unknown; LINEAR used`);
    const minimumWidth = fn === 'LINEAR' ? 1 : Number.MIN_VALUE;
    if (center !== undefined && width !== undefined && Number.isFinite(center) && Number.isFinite(width) && width >= minimumWidth) {
      return { kind: 'window', center, width, fn };
    }
    notes.push('Window Center/Width unusable (missing, not a number, or width too small); ignored');
  }
  const item = dataset.sequence(Tag.VoiLutSequence)[0];
  if (item) {
    // The VOI LUT's input is the Modality LUT's output: signed when that can be negative.
    const signedInput = layout.pixelRepresentation === 1 || (dataset.decimal(Tag.RescaleIntercept) ?? 0) < 0;
    const lut = readLut(item, signedInput, 'VOI LUT', notes);
    if (lut) return { kind: 'lut', ...lut };
  }
  return { kind: 'full-range' };
}

/**
 * A LUT Descriptor + LUT Data pair, or undefined (with a note) when it cannot be trusted.
 * Tolerated vendor faults: 0 entries meaning 65,536; fewer data words than entries (the data
 * wins); 8-bit entries packed two per word; a bit depth that the data exceeds, or 16 bits
 * declared for data that never passes 255 (both: the depth the data really has).
 */
function readLut(item: Dataset, signedInput: boolean, name: string, notes: string[]): { firstMapped: number; data: Uint16Array; bits: number } | undefined {
  const descriptor = item.uint16s(Tag.LutDescriptor);
  const words = item.words(Tag.LutData);
  if (descriptor.length < 3 || !words || words.length === 0) {
    notes.push(`${name} without a usable descriptor or data; ignored`);
    return undefined;
  }
  let entries = descriptor[0] === 0 ? 65536 : descriptor[0]!;
  const firstMapped = signedInput && descriptor[1]! >= 0x8000 ? descriptor[1]! - 0x10000 : descriptor[1]!;
  let bits = descriptor[2]!;
  let data = words;
  if (bits === 8 && words.length * 2 >= entries && words.length < entries) {
    const bytes = item.get(Tag.LutData)!.value;
    data = Uint16Array.from(bytes.subarray(0, entries));
  }
  if (data.length < entries) {
    notes.push(`${name} declares ${entries} entries but holds ${data.length}; the data's length used`);
    entries = data.length;
  }
  data = data.subarray(0, entries);
  let max = 0;
  let min = 0xffff;
  for (const value of data) {
    if (value > max) max = value;
    if (value < min) min = value;
  }
  if (max === min) {
    notes.push(`${name} maps everything to one value; ignored`);
    return undefined;
  }
  const needed = Math.max(1, Math.ceil(Math.log2(max + 1)));
  if (bits < 1 || bits > 16 || needed > bits) {
    notes.push(`${name} declares ${bits} bits per entry but its data needs ${needed}; ${needed} used`);
    bits = needed;
  } else if (bits === 16 && max < 256) {
    notes.push(`${name} declares 16 bits per entry for 8-bit data; 8 used`);
    bits = 8;
  }
  return { firstMapped, data, bits };
}

/**
 * Steps 1–4 for a whole frame: raw sample words (native byte order) → Uint16 display values,
 * 0 darkest. `raw` must hold rows × columns samples.
 */
export function renderGray(raw: RawSamples, layout: PixelLayout, transforms: PixelTransforms): Uint16Array {
  const table = displayTable(raw, layout, transforms);
  const count = layout.rows * layout.columns;
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = table[raw[i]!]!;
  return out;
}

/**
 * Steps 1–4 as one table indexed by the raw word itself (2^BitsAllocated entries): the masking
 * and shifting of step 1 are done once per word value instead of once per pixel.
 */
export function displayTable(raw: RawSamples, layout: PixelLayout, transforms: PixelTransforms): Uint16Array {
  const { shift, mask, signBit } = bitLayout(layout);
  const count = layout.rows * layout.columns;
  const tableSize = mask + 1;

  const signed = (u: number): number => (signBit !== 0 && u & signBit ? u - tableSize : u);
  const modality = modalityFunction(transforms.modality);

  // Only the full range needs to know which values occur: a pass over every pixel, which a
  // window or VOI LUT is spared (the table then maps all 2^BitsStored values, fewer than a
  // radiograph's pixels; the ones that do not occur are never looked up).
  let present: Uint8Array | undefined;
  let voi: (m: number) => number;
  if (transforms.voi.kind === 'full-range') {
    present = valuesPresent(raw, count, shift, mask);
    let lo = Infinity;
    let hi = -Infinity;
    for (let u = 0; u < tableSize; u++) {
      if (!present[u]) continue;
      const m = modality(signed(u));
      if (m < lo) lo = m;
      if (m > hi) hi = m;
    }
    voi = hi > lo ? (m) => (m - lo) / (hi - lo) : () => 0;
  } else {
    voi = voiFunction(transforms.voi);
  }

  const invert = layout.photometric === 'MONOCHROME1';
  const byStored = new Uint16Array(tableSize);
  for (let u = 0; u < tableSize; u++) {
    if (present && !present[u]) continue;
    let y = voi(modality(signed(u)));
    if (!(y >= 0)) y = 0; // also NaN
    if (y > 1) y = 1;
    if (invert) y = 1 - y;
    byStored[u] = Math.round(y * 65535);
  }
  const byWord = new Uint16Array(1 << layout.bitsAllocated);
  for (let word = 0; word < byWord.length; word++) byWord[word] = byStored[(word >> shift) & mask]!;
  return byWord;
}

/** 1 at each masked value that occurs in the frame. */
function valuesPresent(raw: RawSamples, count: number, shift: number, mask: number): Uint8Array {
  const present = new Uint8Array(mask + 1);
  for (let i = 0; i < count; i++) present[(raw[i]! >> shift) & mask] = 1;
  return present;
}

function modalityFunction(transform: ModalityTransform): (stored: number) => number {
  if (transform.kind === 'rescale') {
    const { slope, intercept } = transform;
    return (x) => x * slope + intercept;
  }
  const { firstMapped, data } = transform;
  const last = data.length - 1;
  return (x) => data[Math.min(last, Math.max(0, x - firstMapped))]!;
}

/** VOI output in 0..1 (PS3.3 C.11.2.1.2 with ymin 0, ymax 1). */
function voiFunction(transform: Exclude<VoiTransform, { kind: 'full-range' }>): (m: number) => number {
  if (transform.kind === 'lut') {
    const { firstMapped, data, bits } = transform;
    const last = data.length - 1;
    const full = 2 ** bits - 1;
    return (m) => data[Math.min(last, Math.max(0, Math.round(m) - firstMapped))]! / full;
  }
  const { center: c, width: w, fn } = transform;
  switch (fn) {
    case 'LINEAR':
      return (x) => {
        if (x <= c - 0.5 - (w - 1) / 2) return 0;
        if (x > c - 0.5 + (w - 1) / 2) return 1;
        return w === 1 ? 1 : (x - (c - 0.5)) / (w - 1) + 0.5;
      };
    case 'LINEAR_EXACT':
      return (x) => {
        if (x <= c - w / 2) return 0;
        if (x > c + w / 2) return 1;
        return (x - c) / w + 0.5;
      };
    case 'SIGMOID':
      return (x) => 1 / (1 + Math.exp((-4 * (x - c)) / w));
  }
}
