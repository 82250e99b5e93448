import { createRequire } from 'node:module';
import sharp from 'sharp';
import { ErrorCode, ImageRejectedError } from '../../errors.js';
import { decodeJpegLossless, JpegLosslessError } from './jpeg-lossless.js';
import { reductionSteps } from './resolution.js';
import { decodeRle, RleError } from './rle.js';
import type { PixelCodec } from './transfer-syntax.js';

/**
 * Compressed pixel data → raw sample words. JPEG Lossless and RLE are decoded by our own
 * TypeScript (jpeg-lossless.ts, rle.ts); the WASM codecs (CharLS, OpenJPEG) ship inside
 * their npm packages and are compiled on first use only, so a device that never sees a JPEG-LS
 * file never loads CharLS; lossy JPEG goes through sharp's libjpeg-turbo. Every codestream's
 * own header is checked against the DICOM header before a codec allocates anything.
 */

export interface FrameSpec {
  rows: number;
  columns: number;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  pixelRepresentation: number;
}

export type RawSamples = Uint8Array | Uint16Array;

/** Decoded samples and their size: the frame's, or smaller when the codec reduced it. */
export interface DecodedFrame {
  samples: RawSamples;
  rows: number;
  columns: number;
}

const require = createRequire(import.meta.url);

interface EmscriptenDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  decodeSubResolution(level: number, layer: number): void;
  calculateSizeAtDecompositionLevel(level: number): { width: number; height: number };
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean };
  delete(): void;
}
type CodecModule = Record<string, new () => EmscriptenDecoder>;

const loaded = new Map<string, Promise<CodecModule>>();

/** Compiles a codec's WASM once per process, on first use. */
function loadWasm(specifier: string): Promise<CodecModule> {
  let module = loaded.get(specifier);
  if (!module) {
    module = (async () => {
      const factory = require(specifier) as (options?: object) => Promise<CodecModule>;
      // Emscripten prints aborts itself; keep stdout for our JSON lines.
      return factory({ print: () => {}, printErr: () => {} });
    })();
    loaded.set(specifier, module);
    module.catch(() => loaded.delete(specifier));
  }
  return module;
}

const corrupt = (what: string, reason: string): ImageRejectedError =>
  new ImageRejectedError(ErrorCode.DICOM_PIXEL_DATA_CORRUPT, `${what} pixel data cannot be decoded: ${reason}`);

/**
 * `minShortSide`: JPEG 2000 and lossy JPEG may come back reduced (halved once or more) as long
 * as the short side stays at least this; the lossless JPEG family and RLE have no cheaper
 * smaller decode and always come back at full size. Undefined: full size.
 */
export async function decodeCompressed(codec: Exclude<PixelCodec, 'native'>, codestream: Uint8Array, spec: FrameSpec, minShortSide?: number): Promise<DecodedFrame> {
  const full = (samples: RawSamples): DecodedFrame => ({ samples, rows: spec.rows, columns: spec.columns });
  switch (codec) {
    case 'rle':
      return full(decodeRleFrame(codestream, spec));
    case 'jpeg':
      return decodeJpeg(codestream, spec, minShortSide);
    case 'jpeg-lossless':
      return full(decodeLossless(codestream, spec));
    case 'jpeg-ls':
      checkJpegFamilyHeader(codestream, spec, 'JPEG-LS');
      return decodeWithWasm('JPEG-LS', '@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder', codestream, spec, 0);
    case 'jpeg2000': {
      checkJ2kHeader(codestream, spec);
      const levels = minShortSide === undefined ? 0 : (j2kDecompositionLevels(codestream) ?? 0);
      const level = reductionSteps(spec.rows, spec.columns, minShortSide, levels);
      return decodeWithWasm('JPEG 2000', '@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder', codestream, spec, level);
    }
  }
}

export interface JpegFrameHeader {
  marker: number;
  precision: number;
  height: number;
  width: number;
  components: number;
}

/** The SOF segment of a JPEG or JPEG-LS codestream: enough to refuse a lie before decoding. */
export function jpegFrameHeader(bytes: Uint8Array): JpegFrameHeader | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) return undefined;
    const marker = bytes[pos + 1]!;
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    const length = (bytes[pos + 2]! << 8) | bytes[pos + 3]!;
    const isSof = (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xf7;
    if (isSof) {
      if (pos + 10 > bytes.length) return undefined;
      return {
        marker,
        precision: bytes[pos + 4]!,
        height: (bytes[pos + 5]! << 8) | bytes[pos + 6]!,
        width: (bytes[pos + 7]! << 8) | bytes[pos + 8]!,
        components: bytes[pos + 9]!,
      };
    }
    if (marker === 0xda) return undefined; // scan before any frame header
    pos += 2 + length;
  }
  return undefined;
}

function checkJpegFamilyHeader(codestream: Uint8Array, spec: FrameSpec, what: string): JpegFrameHeader {
  const header = jpegFrameHeader(codestream);
  if (!header) throw corrupt(what, 'no frame header (SOF) in the codestream');
  if (header.components !== 1) throw corrupt(what, `codestream has ${header.components} components where the DICOM header says 1`);
  // Height 0 (defined later by DNL) is allowed by JPEG; we take it only if the width matches.
  if (header.width !== spec.columns || (header.height !== 0 && header.height !== spec.rows)) {
    throw corrupt(what, `codestream is ${header.width}×${header.height} where the DICOM header says ${spec.columns}×${spec.rows}`);
  }
  if (header.precision > spec.bitsAllocated) throw corrupt(what, `codestream has ${header.precision}-bit samples in ${spec.bitsAllocated}-bit words`);
  return header;
}

/** Where the SIZ marker of a JPEG 2000 codestream (bare, or inside a JP2 file's jp2c box) starts, or -1. */
function j2kSizPosition(bytes: Uint8Array): number {
  const limit = Math.min(bytes.length - 4, 1 << 16);
  for (let i = 0; i <= limit; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0x4f && bytes[i + 2] === 0xff && bytes[i + 3] === 0x51) return i + 2;
  }
  return -1;
}

/** The SIZ segment of a JPEG 2000 codestream. */
export function j2kFrameHeader(bytes: Uint8Array): JpegFrameHeader | undefined {
  const pos = j2kSizPosition(bytes);
  if (pos < 0 || pos + 40 > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(pos + 6) - view.getUint32(pos + 14);
  const height = view.getUint32(pos + 10) - view.getUint32(pos + 18);
  const components = view.getUint16(pos + 38);
  const precision = pos + 41 <= bytes.length ? (bytes[pos + 40]! & 0x7f) + 1 : 0;
  return { marker: 0x51, precision, height, width, components };
}

/**
 * Wavelet decomposition levels in a JPEG 2000 main header: the COD segment's, or a COC's (for
 * the one component) when fewer. OpenJPEG cannot drop more levels than the fewest any
 * tile-component has, so undefined (no COD before the first tile) means "do not reduce".
 */
export function j2kDecompositionLevels(bytes: Uint8Array): number | undefined {
  let pos = j2kSizPosition(bytes);
  if (pos < 0) return undefined;
  let levels: number | undefined;
  while (pos + 4 <= bytes.length && bytes[pos] === 0xff) {
    const marker = bytes[pos + 1]!;
    if (marker === 0x90 || marker === 0x93) break; // SOT or SOD: the main header is over
    if (marker === 0x52 && pos + 10 <= bytes.length) {
      // COD: Lcod(2) Scod(1) SGcod: progression(1) layers(2) MCT(1), then SPcod's levels.
      levels = Math.min(levels ?? Infinity, bytes[pos + 9]!);
    } else if (marker === 0x53 && pos + 7 <= bytes.length) {
      // COC: Lcoc(2) Ccoc(1, one component) Scoc(1), then SPcoc's levels.
      levels = Math.min(levels ?? Infinity, bytes[pos + 6]!);
    }
    pos += 2 + ((bytes[pos + 2]! << 8) | bytes[pos + 3]!);
  }
  return levels;
}

function checkJ2kHeader(codestream: Uint8Array, spec: FrameSpec): JpegFrameHeader {
  const header = j2kFrameHeader(codestream);
  if (!header) throw corrupt('JPEG 2000', 'no SIZ segment in the codestream');
  if (header.components !== 1) throw corrupt('JPEG 2000', `codestream has ${header.components} components where the DICOM header says 1`);
  if (header.width !== spec.columns || header.height !== spec.rows) {
    throw corrupt('JPEG 2000', `codestream is ${header.width}×${header.height} where the DICOM header says ${spec.columns}×${spec.rows}`);
  }
  if (header.precision > spec.bitsAllocated) throw corrupt('JPEG 2000', `codestream has ${header.precision}-bit samples in ${spec.bitsAllocated}-bit words`);
  return header;
}

/** libjpeg-turbo scales the IDCT by 1/2, 1/4 and 1/8. */
const JPEG_MAX_SCALE_STEPS = 3;

/**
 * Lossy JPEG (8-bit, one component) through sharp's libjpeg-turbo: its own sample values, no
 * colour management for a gray codestream. Asked for exactly 1/2^k of the frame, libvips uses
 * libjpeg-turbo's scaled IDCT on load (shrink-on-load); the sizes are rounded down so that
 * the shrink factor is never taken for less than 2^k.
 */
async function decodeJpeg(codestream: Uint8Array, spec: FrameSpec, minShortSide: number | undefined): Promise<DecodedFrame> {
  const header = checkJpegFamilyHeader(codestream, spec, 'JPEG');
  if (header.precision !== 8) {
    throw new ImageRejectedError(
      ErrorCode.DICOM_SYNTAX_UNSUPPORTED,
      `lossy JPEG with ${header.precision}-bit samples (JPEG Extended, process 4) is not supported: no decoder for it ships with cspine-edge; send the image uncompressed or losslessly compressed`,
    );
  }
  if (header.marker !== 0xc0 && header.marker !== 0xc1) {
    throw new ImageRejectedError(ErrorCode.DICOM_SYNTAX_UNSUPPORTED, `JPEG frame type SOF${header.marker - 0xc0} is not baseline or extended sequential DCT`);
  }
  const steps = reductionSteps(spec.rows, spec.columns, minShortSide, JPEG_MAX_SCALE_STEPS);
  const rows = steps === 0 ? spec.rows : Math.floor(spec.rows / 2 ** steps);
  const columns = steps === 0 ? spec.columns : Math.floor(spec.columns / 2 ** steps);
  let data: Buffer;
  try {
    let image = sharp(codestream, { failOn: 'warning', limitInputPixels: spec.rows * spec.columns });
    if (steps > 0) image = image.resize(columns, rows, { fit: 'fill' });
    ({ data } = await image.extractChannel(0).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }));
  } catch (error) {
    throw corrupt('JPEG', describe(error));
  }
  if (data.length !== rows * columns) throw corrupt('JPEG', `decoded ${data.length} samples for ${columns}×${rows}`);
  const eight = new Uint8Array(data.buffer, data.byteOffset, data.length);
  return { samples: spec.bitsAllocated === 8 ? eight : Uint16Array.from(eight), rows, columns };
}

async function decodeWithWasm(
  what: string,
  specifier: string,
  className: string,
  codestream: Uint8Array,
  spec: FrameSpec,
  /** JPEG 2000 only: resolution levels to drop (0: full size). */
  level: number,
): Promise<DecodedFrame> {
  const codecs = await loadWasm(specifier);
  const Decoder = codecs[className];
  if (!Decoder) throw new Error(`${specifier} has no ${className}`);
  const decoder = new Decoder();
  try {
    decoder.getEncodedBuffer(codestream.length).set(codestream);
    try {
      if (level > 0) decoder.decodeSubResolution(level, 0);
      else decoder.decode();
    } catch (error) {
      throw corrupt(what, describe(error));
    }
    // The frame info keeps the full size after a reduced decode; the level's size is asked apart.
    const info = decoder.getFrameInfo();
    if (info.width !== spec.columns || info.height !== spec.rows || info.componentCount !== 1) {
      throw corrupt(what, `decoded ${info.width}×${info.height}×${info.componentCount} where the DICOM header says ${spec.columns}×${spec.rows}×1`);
    }
    const { width: columns, height: rows } = level > 0 ? decoder.calculateSizeAtDecompositionLevel(level) : info;
    const decoded = decoder.getDecodedBuffer();
    const count = rows * columns;
    const bytesPerSample = info.bitsPerSample > 8 ? 2 : 1;
    if (decoded.byteLength < count * bytesPerSample) throw corrupt(what, `decoded ${decoded.byteLength} bytes for ${count} samples`);
    // Copy out of WASM memory before the decoder frees it.
    if (bytesPerSample === 1) {
      const eight = Uint8Array.from(decoded.subarray(0, count));
      return { samples: spec.bitsAllocated === 8 ? eight : Uint16Array.from(eight), rows, columns };
    }
    const words = new Uint16Array(count);
    new Uint8Array(words.buffer).set(decoded.subarray(0, count * 2));
    return { samples: words, rows, columns };
  } finally {
    decoder.delete();
  }
}

function decodeLossless(codestream: Uint8Array, spec: FrameSpec): RawSamples {
  const header = checkJpegFamilyHeader(codestream, spec, 'JPEG Lossless');
  if (header.marker !== 0xc3) throw corrupt('JPEG Lossless', `frame type SOF${header.marker - 0xc0} is not lossless non-hierarchical (process 14)`);
  let samples: Uint16Array;
  try {
    ({ samples } = decodeJpegLossless(codestream, spec.rows));
  } catch (error) {
    if (error instanceof JpegLosslessError) throw corrupt('JPEG Lossless', error.message);
    throw error;
  }
  return spec.bitsAllocated === 8 ? Uint8Array.from(samples) : samples;
}

function decodeRleFrame(codestream: Uint8Array, spec: FrameSpec): RawSamples {
  try {
    return decodeRle(codestream, spec.rows, spec.columns, spec.bitsAllocated);
  } catch (error) {
    if (error instanceof RleError) throw corrupt('RLE', error.message);
    throw error;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0]!;
  if (typeof error === 'number') return `codec error ${error}`;
  return String(error).split('\n')[0]!;
}
