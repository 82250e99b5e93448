import { ErrorCode, ImageRejectedError } from '../../errors.js';
import type { DecodedImage, DecodeLimits, DicomAttributes, DicomFacts, ImageDecoder } from '../image.js';
import { renderGrayBoxed } from './box-render.js';
import { decodeCompressed, type DecodedFrame, type RawSamples } from './codecs.js';
import { looksLikeDicom, readDicom, Tag, wordsOf, type Dataset, type DicomFile } from './dataset.js';
import { pixelTransforms, renderGray, type PixelLayout } from './pixels.js';
import { boxFactor } from './resolution.js';
import { transferSyntax } from './transfer-syntax.js';

/** SOP classes of single-frame projection radiographs (and the secondary captures we take). */
const SOP = {
  cr: '1.2.840.10008.5.1.4.1.1.1',
  dxPresentation: '1.2.840.10008.5.1.4.1.1.1.1',
  dxProcessing: '1.2.840.10008.5.1.4.1.1.1.1.1',
  secondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  multiFrameGrayByteSc: '1.2.840.10008.5.1.4.1.1.7.2',
  multiFrameGrayWordSc: '1.2.840.10008.5.1.4.1.1.7.3',
} as const;
const ACCEPTED_SOP_CLASSES = new Set<string>([SOP.cr, SOP.dxPresentation, SOP.secondaryCapture, SOP.multiFrameGrayByteSc, SOP.multiFrameGrayWordSc]);
const SOP_CLASS_NAMES: Record<string, string> = {
  '1.2.840.10008.5.1.4.1.1.2': 'CT Image',
  '1.2.840.10008.5.1.4.1.1.2.1': 'Enhanced CT Image',
  '1.2.840.10008.5.1.4.1.1.4': 'MR Image',
  '1.2.840.10008.5.1.4.1.1.4.1': 'Enhanced MR Image',
  '1.2.840.10008.5.1.4.1.1.6.1': 'Ultrasound Image',
  '1.2.840.10008.5.1.4.1.1.20': 'Nuclear Medicine Image',
  '1.2.840.10008.5.1.4.1.1.128': 'PET Image',
  '1.2.840.10008.5.1.4.1.1.481.2': 'RT Dose',
  '1.2.840.10008.5.1.4.1.1.66.4': 'Segmentation',
  '1.2.840.10008.5.1.4.1.1.1.2': 'Digital Mammography X-Ray Image',
  '1.2.840.10008.5.1.4.1.1.1.3': 'Digital Intra-Oral X-Ray Image',
};
/** Modalities of projection radiographs: computed, digital, and digitised film. */
const RADIOGRAPHY = new Set(['CR', 'DX', 'RG']);

/**
 * DICOM Part 10 files (and bare datasets) → 16-bit gray display values. Takes only what the
 * model was made for — one frame, grayscale, a projection radiograph for presentation — and
 * says precisely why anything else is refused (docs/dicom.md).
 */
export const dicomDecoder: ImageDecoder = {
  name: 'dicom',
  accepts: (bytes) => looksLikeDicom(bytes),
  async decode(bytes: Buffer, limits: DecodeLimits): Promise<DecodedImage> {
    const { file, facts, layout, raw, fullSize } = await readDicomFrame(bytes, limits);
    const transforms = pixelTransforms(file.dataset, layout);
    // A frame the codec could not decode small is averaged down while it is rendered.
    const factor = fullSize ? 1 : boxFactor(layout.rows, layout.columns, limits.minShortSide);
    if (factor > 1) {
      const { pixels, rows, columns } = renderGrayBoxed(raw, layout, transforms, factor);
      return { format: 'dicom', width: columns, height: rows, bitsPerSample: 16, pixels, dicom: facts, fullSize: { width: layout.columns, height: layout.rows } };
    }
    const pixels = renderGray(raw, layout, transforms);
    return { format: 'dicom', width: layout.columns, height: layout.rows, bitsPerSample: 16, pixels, dicom: facts, ...(fullSize ? { fullSize } : {}) };
  },
};

export interface DicomFrame {
  file: DicomFile;
  facts: DicomFacts;
  /** The layout of `raw`: the header's, with smaller rows and columns when the codec reduced the frame. */
  layout: PixelLayout;
  /** Raw sample words in native byte order, before masking (see pixels.ts). */
  raw: RawSamples;
  /** The header's Columns × Rows, present only when `raw` is a reduced-resolution decode. */
  fullSize?: { width: number; height: number };
}

/**
 * Parse, check and decompress one frame. `acceptance: false` skips the rules about what we
 * classify (modality, SOP class, For Processing) but never the structural and size checks:
 * for tests and tools that look at other objects' pixels.
 */
export async function readDicomFrame(bytes: Buffer, limits: DecodeLimits, options: { acceptance?: boolean } = {}): Promise<DicomFrame> {
  const file = readDicom(bytes, { maxInflatedBytes: Math.min(2 ** 31 - 1, limits.maxPixels * 2 + 16 * 1024 * 1024) });
  const facts = dicomFacts(file);
  try {
    if (options.acceptance !== false) checkAcceptance(file.dataset, facts.attributes);
    const layout = pixelLayout(file.dataset, facts.attributes, limits);
    const { samples, rows, columns } = await pixelSamples(file, layout, limits.minShortSide);
    if (rows === layout.rows && columns === layout.columns) return { file, facts, layout, raw: samples };
    return { file, facts, layout: { ...layout, rows, columns }, raw: samples, fullSize: { width: layout.columns, height: layout.rows } };
  } catch (error) {
    // A refused DICOM object still has a study and an instance: history records them (pseudonymised).
    if (error instanceof ImageRejectedError) throw new ImageRejectedError(error.code, error.message, { cause: error.cause, details: { ...error.details, dicom: facts } });
    throw error;
  }
}

/** The DICOM facts a rejection carries, when the file got as far as a readable header. */
export function rejectedDicomFacts(error: unknown): DicomFacts | undefined {
  return error instanceof ImageRejectedError ? (error.details?.dicom as DicomFacts | undefined) : undefined;
}

const reject = (code: (typeof ErrorCode)[keyof typeof ErrorCode], message: string): ImageRejectedError => new ImageRejectedError(code, message);

/** What we classify: the object's kind, from its SOP class and modality. */
function checkAcceptance(dataset: Dataset, attributes: DicomAttributes): void {
  const sopClass = attributes.sopClassUid;
  const modality = attributes.modality;
  const what = describeObject(sopClass, modality);

  if (sopClass?.startsWith('1.2.840.10008.5.1.4.1.1.88.') || modality === 'SR') {
    throw reject(ErrorCode.DICOM_STRUCTURED_REPORT, `${what} is a structured report (text, no radiograph); nothing to classify`);
  }
  if (!dataset.has(Tag.PixelData)) {
    throw reject(ErrorCode.DICOM_NO_PIXEL_DATA, `${what} has no Pixel Data (7FE0,0010); nothing to classify`);
  }
  const intent = dataset.string(Tag.PresentationIntentType)?.toUpperCase();
  if (sopClass === SOP.dxProcessing || intent === 'FOR PROCESSING') {
    throw reject(
      ErrorCode.DICOM_FOR_PROCESSING,
      `${what} is "For Processing" (raw detector data before the vendor's image processing); send the "For Presentation" image`,
    );
  }
  const secondaryCapture = sopClass !== null && sopClass.startsWith(SOP.secondaryCapture);
  const modalityOk = modality !== null && RADIOGRAPHY.has(modality);
  const scOfRadiograph = secondaryCapture && (modality === null || modality === 'OT' || modalityOk);
  if ((sopClass !== null && !ACCEPTED_SOP_CLASSES.has(sopClass)) || !(modalityOk || scOfRadiograph)) {
    throw reject(ErrorCode.DICOM_MODALITY_UNSUPPORTED, `${what} is not a projection radiograph (CR, DX or a secondary capture of one); refused`);
  }
}

/** The structure of the pixels: one grayscale frame of a size we allow, in 8 or 16-bit words. */
function pixelLayout(dataset: Dataset, attributes: DicomAttributes, limits: DecodeLimits): PixelLayout {
  const what = describeObject(attributes.sopClassUid, attributes.modality);
  if (!dataset.has(Tag.PixelData)) {
    throw reject(ErrorCode.DICOM_NO_PIXEL_DATA, `${what} has no Pixel Data (7FE0,0010); nothing to classify`);
  }
  const frames = dataset.decimal(Tag.NumberOfFrames) ?? 1;
  if (frames > 1) throw reject(ErrorCode.DICOM_MULTI_FRAME, `${what} holds ${frames} frames; only single-frame images are classified`);

  const samples = dataset.uint16(Tag.SamplesPerPixel) ?? 1;
  const photometric = attributes.photometric;
  if (samples !== 1 || (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2')) {
    throw reject(ErrorCode.DICOM_COLOUR, `${what} is colour (${photometric || 'no photometric interpretation'}, ${samples} samples per pixel); only grayscale radiographs are classified`);
  }

  const rows = dataset.uint16(Tag.Rows);
  const columns = dataset.uint16(Tag.Columns);
  if (!rows || !columns) throw reject(ErrorCode.DICOM_MALFORMED, `DICOM image without Rows/Columns (${rows ?? 'none'}×${columns ?? 'none'})`);
  if (rows * columns > limits.maxPixels) {
    throw reject(
      ErrorCode.IMAGE_TOO_LARGE,
      `${columns}×${rows} DICOM image is ${((rows * columns) / 1e6).toFixed(0)} Mpixel, over the limit of ${(limits.maxPixels / 1e6).toFixed(0)} Mpixel (imaging.maxPixels); refused before decoding`,
    );
  }
  const bitsAllocated = dataset.uint16(Tag.BitsAllocated);
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw reject(ErrorCode.PIXEL_FORMAT_UNSUPPORTED, `DICOM Bits Allocated ${bitsAllocated ?? 'missing'} is not supported (8 or 16)`);
  }
  const bitsStored = dataset.uint16(Tag.BitsStored) ?? bitsAllocated;
  const highBit = dataset.uint16(Tag.HighBit) ?? bitsStored - 1;
  if (bitsStored < 1 || bitsStored > bitsAllocated || highBit < bitsStored - 1 || highBit >= bitsAllocated) {
    throw reject(ErrorCode.DICOM_MALFORMED, `DICOM Bits Stored ${bitsStored} / High Bit ${highBit} do not fit in Bits Allocated ${bitsAllocated}`);
  }
  const pixelRepresentation = dataset.uint16(Tag.PixelRepresentation) ?? 0;
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) throw reject(ErrorCode.DICOM_MALFORMED, `DICOM Pixel Representation ${pixelRepresentation} is neither 0 nor 1`);
  return { rows, columns, bitsAllocated, bitsStored, highBit, pixelRepresentation, photometric };
}

/** The frame's raw sample words, native byte order, exactly rows × columns of them (reduced ones, when the codec can and `minShortSide` allows). */
async function pixelSamples(file: DicomFile, layout: PixelLayout, minShortSide: number | undefined): Promise<DecodedFrame> {
  const syntax = transferSyntax(file.syntaxUid);
  if (!syntax) throw reject(ErrorCode.DICOM_SYNTAX_UNSUPPORTED, `DICOM transfer syntax ${sanitiseUid(file.syntaxUid)} is not supported (docs/dicom.md lists those that are)`);
  const element = file.dataset.get(Tag.PixelData)!;
  if (element.truncated) throw reject(ErrorCode.DICOM_TRUNCATED, 'DICOM file ends inside its Pixel Data (a partial copy or transfer?)');
  const count = layout.rows * layout.columns;
  const bytesPerSample = layout.bitsAllocated / 8;

  if (syntax.codec === 'native') {
    if (element.fragments) throw reject(ErrorCode.DICOM_MALFORMED, `encapsulated Pixel Data in a file whose transfer syntax (${syntax.name}) is not compressed`);
    const needed = count * bytesPerSample;
    if (element.value.byteLength < needed) {
      throw reject(ErrorCode.DICOM_PIXEL_DATA_SHORT, `DICOM Pixel Data holds ${element.value.byteLength} bytes where ${layout.columns}×${layout.rows} at ${layout.bitsAllocated} bits needs ${needed}`);
    }
    const value = element.value.subarray(0, needed);
    return { samples: layout.bitsAllocated === 8 ? value : wordsOf(value, syntax.littleEndian), rows: layout.rows, columns: layout.columns };
  }

  if (!element.fragments) throw reject(ErrorCode.DICOM_MALFORMED, `${syntax.name} needs encapsulated Pixel Data, but the element has a defined length`);
  if (element.fragments.length === 0 || element.fragments.every((fragment) => fragment.byteLength === 0)) {
    throw reject(ErrorCode.DICOM_PIXEL_DATA_SHORT, 'encapsulated DICOM Pixel Data holds no fragments');
  }
  // One frame: all fragments together are its codestream.
  const codestream = element.fragments.length === 1 ? element.fragments[0]! : Buffer.concat(element.fragments);
  return decodeCompressed(syntax.codec, codestream, layout, minShortSide);
}

/** The facts the rest of the runtime may see; identifiers separately, for pseudonymising. */
export function dicomFacts(file: DicomFile): DicomFacts {
  const { dataset } = file;
  const facts = {
    attributes: {
      modality: codeString(dataset.string(Tag.Modality)),
      sopClassUid: sanitiseUid(dataset.string(Tag.SOPClassUID)) ?? null,
      bodyPartExamined: codeString(dataset.string(Tag.BodyPartExamined)),
      viewPosition: codeString(dataset.string(Tag.ViewPosition)),
      acquisitionDateTime: acquisitionDateTime(dataset),
      transferSyntaxUid: sanitiseUid(file.syntaxUid) ?? 'unknown',
      photometric: codeString(dataset.string(Tag.PhotometricInterpretation)) ?? '',
      bitsStored: dataset.uint16(Tag.BitsStored) ?? dataset.uint16(Tag.BitsAllocated) ?? 0,
    },
  } as DicomFacts;
  // Not enumerable: JSON, pino and object spreads of an image or an error never carry the UIDs;
  // only code that asks for `identifiers` by name (to pseudonymise them) sees them.
  Object.defineProperty(facts, 'identifiers', {
    enumerable: false,
    value: {
      studyInstanceUid: sanitiseUid(dataset.string(Tag.StudyInstanceUID)) ?? null,
      sopInstanceUid: sanitiseUid(dataset.string(Tag.SOPInstanceUID)) ?? null,
      patientId: dataset.string(Tag.PatientID)?.trim().slice(0, 64) || null,
    },
  });
  return facts;
}

/** A CS value, upper case, only [A-Z0-9 _-], at most 16 characters: never free text. */
function codeString(value: string | undefined): string | null {
  if (value === undefined) return null;
  const clean = value
    .toUpperCase()
    .replace(/[^A-Z0-9 _-]/g, '')
    .trim()
    .slice(0, 16);
  return clean === '' ? null : clean;
}

function sanitiseUid(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const clean = value.replace(/[^0-9.]/g, '').slice(0, 64);
  return clean === '' ? undefined : clean;
}

/** AcquisitionDateTime (DT), else AcquisitionDate + AcquisitionTime, as ISO 8601; null if neither parses. */
function acquisitionDateTime(dataset: Dataset): string | null {
  const dt = dataset.string(Tag.AcquisitionDateTime);
  if (dt) {
    const match = /^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,6})?([+-]\d{4})?$/.exec(dt);
    if (match) return isoDateTime(match[1]!, match[2]!, match[3]!, match[4], match[5], match[6], match[7]);
  }
  const date = /^(\d{4})(\d{2})(\d{2})$/.exec(dataset.string(Tag.AcquisitionDate) ?? '');
  if (!date) return null;
  const time = /^(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?(?:\.\d{1,6})?$/.exec(dataset.string(Tag.AcquisitionTime) ?? '');
  return isoDateTime(date[1]!, date[2]!, date[3]!, time?.[1], time?.[2], time?.[3], undefined);
}

function isoDateTime(y: string, mo: string, d: string, h: string | undefined, mi: string | undefined, s: string | undefined, zone: string | undefined): string {
  const day = `${y}-${mo}-${d}`;
  if (h === undefined) return day;
  const offset = zone === undefined ? '' : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  return `${day}T${h}:${mi ?? '00'}:${s ?? '00'}${offset}`;
}

function describeObject(sopClass: string | null, modality: string | null): string {
  const name = sopClass === null ? undefined : SOP_CLASS_NAMES[sopClass];
  const parts = [modality ? `modality ${modality}` : 'no modality', name ? name : sopClass ? `SOP class ${sopClass}` : undefined].filter(Boolean);
  return `DICOM object (${parts.join(', ')})`;
}
