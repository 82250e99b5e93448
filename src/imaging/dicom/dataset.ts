import zlib from 'node:zlib';
import { ErrorCode, ImageRejectedError } from '../../errors.js';
import { EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, transferSyntax, type TransferSyntax } from './transfer-syntax.js';

/**
 * A small, strict DICOM Part 10 reader: just enough structure to find the image attributes and
 * the pixel data, without copying values (elements are views into the file's bytes) and without
 * trusting any length before checking it against the bytes that are really there.
 */

export const tag = (group: number, element: number): number => ((group << 16) | element) >>> 0;

export const Tag = {
  TransferSyntaxUID: tag(0x0002, 0x0010),
  SpecificCharacterSet: tag(0x0008, 0x0005),
  ImageType: tag(0x0008, 0x0008),
  SOPClassUID: tag(0x0008, 0x0016),
  SOPInstanceUID: tag(0x0008, 0x0018),
  AcquisitionDate: tag(0x0008, 0x0022),
  AcquisitionTime: tag(0x0008, 0x0032),
  AcquisitionDateTime: tag(0x0008, 0x002a),
  Modality: tag(0x0008, 0x0060),
  PresentationIntentType: tag(0x0008, 0x0068),
  ConversionType: tag(0x0008, 0x0064),
  BodyPartExamined: tag(0x0018, 0x0015),
  ViewPosition: tag(0x0018, 0x5101),
  StudyInstanceUID: tag(0x0020, 0x000d),
  PatientID: tag(0x0010, 0x0020),
  SamplesPerPixel: tag(0x0028, 0x0002),
  PhotometricInterpretation: tag(0x0028, 0x0004),
  NumberOfFrames: tag(0x0028, 0x0008),
  Rows: tag(0x0028, 0x0010),
  Columns: tag(0x0028, 0x0011),
  BitsAllocated: tag(0x0028, 0x0100),
  BitsStored: tag(0x0028, 0x0101),
  HighBit: tag(0x0028, 0x0102),
  PixelRepresentation: tag(0x0028, 0x0103),
  WindowCenter: tag(0x0028, 0x1050),
  WindowWidth: tag(0x0028, 0x1051),
  RescaleIntercept: tag(0x0028, 0x1052),
  RescaleSlope: tag(0x0028, 0x1053),
  VoiLutFunction: tag(0x0028, 0x1056),
  ModalityLutSequence: tag(0x0028, 0x3000),
  LutDescriptor: tag(0x0028, 0x3002),
  LutData: tag(0x0028, 0x3006),
  VoiLutSequence: tag(0x0028, 0x3010),
  PixelData: tag(0x7fe0, 0x0010),
  Item: tag(0xfffe, 0xe000),
  ItemDelimitation: tag(0xfffe, 0xe00d),
  SequenceDelimitation: tag(0xfffe, 0xe0dd),
} as const;

/** VRs of the binary attributes we read, for implicit VR datasets (text VRs are read as text anyway). */
const IMPLICIT_VR = new Map<number, string>([
  [Tag.SamplesPerPixel, 'US'],
  [Tag.Rows, 'US'],
  [Tag.Columns, 'US'],
  [Tag.BitsAllocated, 'US'],
  [Tag.BitsStored, 'US'],
  [Tag.HighBit, 'US'],
  [Tag.PixelRepresentation, 'US'],
  [Tag.LutDescriptor, 'US'],
  [Tag.LutData, 'OW'],
  [Tag.ModalityLutSequence, 'SQ'],
  [Tag.VoiLutSequence, 'SQ'],
  [Tag.PixelData, 'OW'],
]);

/** VRs with a 4-byte length in explicit VR encoding. */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const ALL_VRS = new Set([
  ...LONG_VRS,
  ...['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US'],
]);
const UNDEFINED_LENGTH = 0xffffffff;
const MAX_DEPTH = 8;

export interface Element {
  tag: number;
  vr: string;
  /** The value's bytes (a view into the file, never a copy). */
  value: Uint8Array;
  /** SQ items. */
  items?: Dataset[];
  /** Encapsulated pixel data: the fragments after the basic offset table. */
  fragments?: Uint8Array[];
  /** Pixel data whose declared length runs past the end of the file. */
  truncated?: boolean;
}

export class Dataset {
  readonly elements = new Map<number, Element>();

  constructor(readonly littleEndian: boolean) {}

  has(t: number): boolean {
    return this.elements.has(t);
  }

  get(t: number): Element | undefined {
    return this.elements.get(t);
  }

  /** Text value with DICOM padding (spaces, NULs) trimmed; undefined when absent or empty. */
  string(t: number): string | undefined {
    const element = this.elements.get(t);
    if (!element) return undefined;
    const text = Buffer.from(element.value.buffer, element.value.byteOffset, element.value.byteLength).toString('latin1');
    const trimmed = text.replace(/[\0 ]+$/, '').replace(/^ +/, '');
    return trimmed === '' ? undefined : trimmed;
  }

  strings(t: number): string[] {
    return (this.string(t) ?? '').split('\\').map((value) => value.trim());
  }

  /** First value of a DS/IS attribute. */
  decimal(t: number): number | undefined {
    const first = this.strings(t)[0];
    if (first === undefined || first === '') return undefined;
    const value = Number(first);
    return Number.isFinite(value) ? value : undefined;
  }

  decimals(t: number): number[] {
    return this.strings(t)
      .filter((value) => value !== '')
      .map(Number);
  }

  /** US values (the first with `uint16(t)`), in this dataset's byte order. */
  uint16s(t: number): number[] {
    const element = this.elements.get(t);
    if (!element) return [];
    const { value } = element;
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const out: number[] = [];
    for (let i = 0; i + 1 < value.byteLength; i += 2) out.push(view.getUint16(i, this.littleEndian));
    return out;
  }

  uint16(t: number): number | undefined {
    const element = this.elements.get(t);
    if (!element || element.value.byteLength < 2) return undefined;
    const { value } = element;
    return new DataView(value.buffer, value.byteOffset, 2).getUint16(0, this.littleEndian);
  }

  /** 16-bit words in native order (a copy, swapped when the dataset is big endian). */
  words(t: number): Uint16Array | undefined {
    const element = this.elements.get(t);
    if (!element) return undefined;
    return wordsOf(element.value, this.littleEndian);
  }

  sequence(t: number): Dataset[] {
    return this.elements.get(t)?.items ?? [];
  }
}

const NATIVE_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes as 16-bit words in this machine's order; copies (the source may be odd-aligned). */
export function wordsOf(bytes: Uint8Array, littleEndian: boolean): Uint16Array {
  const count = bytes.byteLength >> 1;
  const out = new Uint16Array(count);
  new Uint8Array(out.buffer).set(bytes.subarray(0, count * 2));
  if (littleEndian !== NATIVE_LITTLE_ENDIAN) {
    for (let i = 0; i < count; i++) out[i] = ((out[i]! & 0xff) << 8) | (out[i]! >> 8);
  }
  return out;
}

export interface DicomFile {
  syntax: TransferSyntax;
  /** The transfer syntax UID as written, also when we do not support it. */
  syntaxUid: string;
  dataset: Dataset;
  /** The bytes the dataset was read from: the file itself, or the inflated copy. */
  hasPreamble: boolean;
}

const malformed = (message: string): ImageRejectedError => new ImageRejectedError(ErrorCode.DICOM_MALFORMED, `DICOM ${message}`);
const truncatedError = (where: string): ImageRejectedError =>
  new ImageRejectedError(ErrorCode.DICOM_TRUNCATED, `DICOM file ends early: ${where} runs past the last byte (a partial copy or transfer?)`);

const isDicm = (bytes: Uint8Array, at: number): boolean =>
  bytes.length >= at + 4 && bytes[at] === 0x44 && bytes[at + 1] === 0x49 && bytes[at + 2] === 0x43 && bytes[at + 3] === 0x4d;

const vrAt = (bytes: Uint8Array, at: number): string | undefined => {
  if (at + 2 > bytes.length) return undefined;
  const vr = String.fromCharCode(bytes[at]!, bytes[at + 1]!);
  return ALL_VRS.has(vr) ? vr : undefined;
};

/**
 * How a dataset without preamble is laid out, or undefined when these bytes do not start like
 * one: the first elements must be group 0002 or 0008 with ascending tags and lengths that fit.
 */
export function guessLayout(bytes: Uint8Array, start = 0): TransferSyntax | undefined {
  if (bytes.length < start + 8) return undefined;
  const leGroup = bytes[start]! | (bytes[start + 1]! << 8);
  const beGroup = (bytes[start]! << 8) | bytes[start + 1]!;
  const candidates: TransferSyntax[] = [];
  if (leGroup === 0x0002 || leGroup === 0x0008) candidates.push(vrAt(bytes, start + 4) ? EXPLICIT_LE : IMPLICIT_LE);
  if (beGroup === 0x0008 && vrAt(bytes, start + 4)) candidates.push(EXPLICIT_BE);
  return candidates.find((layout) => plausibleElements(bytes, start, layout));
}

function plausibleElements(bytes: Uint8Array, start: number, layout: TransferSyntax): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  let previous = -1;
  for (let seen = 0; seen < 3 && pos < bytes.length; seen++) {
    if (pos + 8 > bytes.length) return false;
    const t = tag(view.getUint16(pos, layout.littleEndian), view.getUint16(pos + 2, layout.littleEndian));
    if (t <= previous || t >>> 16 > 0x0008) return seen > 0 && t > previous;
    previous = t;
    let length: number;
    let header: number;
    if (layout.explicitVr) {
      const vr = vrAt(bytes, pos + 4);
      if (!vr) return false;
      if (LONG_VRS.has(vr)) {
        if (pos + 12 > bytes.length) return false;
        length = view.getUint32(pos + 8, layout.littleEndian);
        header = 12;
      } else {
        length = view.getUint16(pos + 6, layout.littleEndian);
        header = 8;
      }
    } else {
      length = view.getUint32(pos + 4, true);
      header = 8;
    }
    if (length === UNDEFINED_LENGTH) return seen > 0;
    if (pos + header + length > bytes.length) return false;
    pos += header + length;
  }
  return true;
}

/** Bytes that are a DICOM file: `DICM` at 128, or a dataset (or meta group) from the first byte. */
export function looksLikeDicom(bytes: Uint8Array): boolean {
  return isDicm(bytes, 128) || guessLayout(bytes) !== undefined;
}

export interface ReadOptions {
  /** Most bytes a deflated dataset may inflate to. */
  maxInflatedBytes: number;
}

/** Reads a whole DICOM file up to and including its (first) pixel data element. */
export function readDicom(bytes: Buffer, options: ReadOptions): DicomFile {
  let pos = 0;
  const hasPreamble = isDicm(bytes, 128);
  let meta: Dataset | undefined;
  if (hasPreamble) {
    pos = 132;
    if (bytes.length < pos + 8) throw truncatedError('the file meta information');
  }
  // The file meta group (0002) is always explicit VR little endian, with or without preamble.
  const group = bytes.length >= pos + 2 ? bytes[pos]! | (bytes[pos + 1]! << 8) : -1;
  if (group === 0x0002) {
    meta = new Dataset(true);
    pos = readElements(bytes, pos, bytes.length, meta, EXPLICIT_LE, 0, { stopOutsideGroup: 0x0002 });
  } else if (hasPreamble) {
    throw malformed('file has the DICM marker but no file meta information (group 0002)');
  }

  const syntaxUid = meta?.string(Tag.TransferSyntaxUID)?.replace(/\0/g, '');
  let layout: TransferSyntax | undefined;
  if (syntaxUid !== undefined) {
    layout = transferSyntax(syntaxUid);
    if (!layout) {
      // Read the attributes anyway (policy errors name the modality); pixels are refused later.
      const guessed = guessLayout(bytes, pos) ?? EXPLICIT_LE;
      return { syntax: guessed, syntaxUid, dataset: readBody(bytes, pos, guessed, options), hasPreamble };
    }
  } else {
    layout = guessLayout(bytes, pos);
    if (!layout) throw malformed('file names no transfer syntax and its dataset is neither implicit nor explicit VR');
  }
  return { syntax: layout, syntaxUid: layout.uid, dataset: readBody(bytes, pos, layout, options), hasPreamble };
}

function readBody(bytes: Buffer, pos: number, layout: TransferSyntax, options: ReadOptions): Dataset {
  let source: Buffer = bytes;
  let start = pos;
  if (layout.deflated) {
    try {
      source = zlib.inflateRawSync(bytes.subarray(pos), { maxOutputLength: options.maxInflatedBytes });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE' || /maxOutputLength|Cannot create a Buffer larger/i.test((error as Error).message)) {
        throw new ImageRejectedError(ErrorCode.IMAGE_TOO_LARGE, `deflated DICOM dataset inflates to more than ${options.maxInflatedBytes} bytes; refused`);
      }
      throw new ImageRejectedError(ErrorCode.DICOM_TRUNCATED, `deflated DICOM dataset cannot be inflated (${(error as Error).message}); truncated or damaged`);
    }
    start = 0;
  }
  const dataset = new Dataset(layout.littleEndian);
  readElements(source, start, source.length, dataset, layout, 0, {});
  return dataset;
}

interface ReadScope {
  /** For the meta group: stop at the first element of another group. */
  stopOutsideGroup?: number;
  /** Inside an undefined-length item: stop after the item delimiter. */
  untilItemEnd?: boolean;
}

/** Reads elements into `into` from `pos` up to `end`; returns where it stopped. */
function readElements(bytes: Uint8Array, pos: number, end: number, into: Dataset, layout: TransferSyntax, depth: number, scope: ReadScope): number {
  if (depth > MAX_DEPTH) throw malformed(`sequences nested deeper than ${MAX_DEPTH}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = layout.littleEndian;
  while (pos < end) {
    if (pos + 8 > end) {
      // Trailing padding shorter than an element header is tolerated at the top level only.
      if (depth === 0 && scope.stopOutsideGroup === undefined && end === bytes.length && bytes.subarray(pos, end).every((b) => b === 0)) return end;
      throw truncatedError('an element header');
    }
    const groupNumber = view.getUint16(pos, le);
    const t = tag(groupNumber, view.getUint16(pos + 2, le));
    if (scope.stopOutsideGroup !== undefined && groupNumber !== scope.stopOutsideGroup) return pos;
    if (groupNumber === 0xfffe) {
      // Item and delimiter tags have no VR in any syntax.
      if (t === Tag.ItemDelimitation && scope.untilItemEnd) return pos + 8;
      if (t === Tag.SequenceDelimitation || t === Tag.ItemDelimitation) throw malformed(`delimiter (FFFE,${(t & 0xffff).toString(16).toUpperCase()}) out of place at byte ${pos}`);
      throw malformed(`item tag outside a sequence at byte ${pos}`);
    }
    let vr: string;
    let length: number;
    let header: number;
    // Group 0002 is explicit VR little endian in every file, whatever the dataset's syntax.
    const explicit = layout.explicitVr;
    if (explicit) {
      const found = vrAt(bytes, pos + 4);
      if (!found) throw malformed(`element (${hex(t)}) at byte ${pos} has no valid VR in an explicit VR dataset`);
      vr = found;
      if (LONG_VRS.has(vr)) {
        if (pos + 12 > end) throw truncatedError('an element header');
        length = view.getUint32(pos + 8, le);
        header = 12;
      } else {
        length = view.getUint16(pos + 6, le);
        header = 8;
      }
    } else {
      length = view.getUint32(pos + 4, le);
      header = 8;
      vr = IMPLICIT_VR.get(t) ?? (length === UNDEFINED_LENGTH ? 'SQ' : 'UN');
    }
    const valueStart = pos + header;

    if (t === Tag.PixelData && length === UNDEFINED_LENGTH) {
      const { fragments, truncated, next } = readFragments(bytes, valueStart, end, le);
      if (depth === 0) {
        into.elements.set(t, { tag: t, vr, value: bytes.subarray(valueStart, valueStart), fragments, truncated });
        return end; // nothing after the pixel data matters here
      }
      if (truncated) throw truncatedError('encapsulated pixel data in a sequence');
      pos = next; // e.g. an icon in the Icon Image Sequence: skipped
      continue;
    }
    if (t === Tag.PixelData && depth === 0) {
      {
        const available = Math.max(0, end - valueStart);
        const truncated = length > available;
        into.elements.set(t, { tag: t, vr, value: bytes.subarray(valueStart, valueStart + Math.min(length, available)), truncated });
      }
      return end; // nothing after the pixel data matters here
    }

    if (length === UNDEFINED_LENGTH) {
      if (vr !== 'SQ' && vr !== 'UN') throw malformed(`element (${hex(t)}) of VR ${vr} has an undefined length`);
      // UN of undefined length holds an implicit VR little endian sequence (PS3.5 6.2.2).
      const itemLayout = vr === 'UN' ? IMPLICIT_LE : layout;
      const { items, next } = readSequence(bytes, valueStart, end, itemLayout, depth, true);
      into.elements.set(t, { tag: t, vr: 'SQ', value: bytes.subarray(valueStart, valueStart), items });
      pos = next;
      continue;
    }
    if (valueStart + length > end) throw truncatedError(`element (${hex(t)}) of ${length} bytes`);
    const value = bytes.subarray(valueStart, valueStart + length);
    if (vr === 'SQ') {
      const { items } = readSequence(bytes, valueStart, valueStart + length, layout, depth, false);
      into.elements.set(t, { tag: t, vr, value, items });
    } else {
      into.elements.set(t, { tag: t, vr, value });
    }
    pos = valueStart + length;
  }
  if (scope.untilItemEnd) throw truncatedError('a sequence item');
  return pos;
}

function readSequence(
  bytes: Uint8Array,
  pos: number,
  end: number,
  layout: TransferSyntax,
  depth: number,
  undefinedLength: boolean,
): { items: Dataset[]; next: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = layout.littleEndian;
  const items: Dataset[] = [];
  while (pos < end) {
    if (pos + 8 > end) throw truncatedError('a sequence item header');
    const t = tag(view.getUint16(pos, le), view.getUint16(pos + 2, le));
    const length = view.getUint32(pos + 4, le);
    if (t === Tag.SequenceDelimitation) {
      if (undefinedLength) return { items, next: pos + 8 };
      throw malformed(`sequence delimiter inside a sequence of defined length at byte ${pos}`);
    }
    if (t !== Tag.Item) throw malformed(`expected a sequence item at byte ${pos}, found (${hex(t)})`);
    const item = new Dataset(le);
    if (length === UNDEFINED_LENGTH) {
      pos = readElements(bytes, pos + 8, end, item, layout, depth + 1, { untilItemEnd: true });
    } else {
      if (pos + 8 + length > end) throw truncatedError('a sequence item');
      readElements(bytes, pos + 8, pos + 8 + length, item, layout, depth + 1, {});
      pos += 8 + length;
    }
    items.push(item);
  }
  if (undefinedLength) throw truncatedError('a sequence');
  return { items, next: pos };
}

/** Encapsulated pixel data: the basic offset table item, then one item per fragment. */
function readFragments(bytes: Uint8Array, pos: number, end: number, le: boolean): { fragments: Uint8Array[]; truncated: boolean; next: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fragments: Uint8Array[] = [];
  let first = true;
  while (pos + 8 <= end) {
    const t = tag(view.getUint16(pos, le), view.getUint16(pos + 2, le));
    const length = view.getUint32(pos + 4, le);
    if (t === Tag.SequenceDelimitation) return { fragments, truncated: false, next: pos + 8 };
    if (t !== Tag.Item) throw malformed(`encapsulated pixel data holds (${hex(t)}) where a fragment item belongs, at byte ${pos}`);
    if (length === UNDEFINED_LENGTH) throw malformed('encapsulated pixel data fragment of undefined length');
    if (pos + 8 + length > end) {
      if (!first) fragments.push(bytes.subarray(pos + 8, end));
      return { fragments, truncated: true, next: end };
    }
    if (!first) fragments.push(bytes.subarray(pos + 8, pos + 8 + length));
    first = false;
    pos += 8 + length;
  }
  return { fragments, truncated: true, next: end };
}

function hex(t: number): string {
  return `${(t >>> 16).toString(16).padStart(4, '0')},${(t & 0xffff).toString(16).padStart(4, '0')}`.toUpperCase();
}
