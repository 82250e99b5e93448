import { createRequire } from 'node:module';
import { ErrorCode, ImageRejectedError } from '../../errors.js';
import type { PixelCodec } from './transfer-syntax.js';

/**
 * Compressed pixel data → raw sample words. The WASM codecs (CharLS, OpenJPEG, libjpeg-turbo)
 * ship inside their npm packages and are compiled on first use only, so a device that never
 * sees a JPEG-LS file never loads CharLS. Every codestream's own header is checked against
 * the DICOM header before a codec allocates anything.
 */

export interface FrameSpec {
  rows: number;
  columns: number;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  pixelRepresentation: number;
}

export type RawSamples = Uint8Array | Uint16Array;

const require = createRequire(import.meta.url);

interface EmscriptenDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
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

export async function decodeCompressed(codec: Exclude<PixelCodec, 'native'>, codestream: Uint8Array, spec: FrameSpec): Promise<RawSamples> {
  switch (codec) {
    case 'rle':
      return decodeRle(codestream, spec);
    case 'jpeg':
      return decodeJpegBaseline(codestream, spec);
    case 'jpeg-lossless':
      return decodeJpegLossless(codestream, spec);
    case 'jpeg-ls':
      return decodeWithWasm('JPEG-LS', '@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder', codestream, spec, checkJpegFamilyHeader(codestream, spec, 'JPEG-LS'));
    case 'jpeg2000':
      return decodeWithWasm('JPEG 2000', '@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder', codestream, spec, checkJ2kHeader(codestream, spec));
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

/** The SIZ segment of a JPEG 2000 codestream (bare, or inside a JP2 file's jp2c box). */
export function j2kFrameHeader(bytes: Uint8Array): JpegFrameHeader | undefined {
  let pos = -1;
  const limit = Math.min(bytes.length - 4, 1 << 16);
  for (let i = 0; i <= limit; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0x4f && bytes[i + 2] === 0xff && bytes[i + 3] === 0x51) {
      pos = i + 2;
      break;
    }
  }
  if (pos < 0 || pos + 40 > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(pos + 6) - view.getUint32(pos + 14);
  const height = view.getUint32(pos + 10) - view.getUint32(pos + 18);
  const components = view.getUint16(pos + 38);
  const precision = pos + 41 <= bytes.length ? (bytes[pos + 40]! & 0x7f) + 1 : 0;
  return { marker: 0x51, precision, height, width, components };
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

async function decodeJpegBaseline(codestream: Uint8Array, spec: FrameSpec): Promise<RawSamples> {
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
  return decodeWithWasm('JPEG', '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEGDecoder', codestream, spec, header);
}

async function decodeWithWasm(
  what: string,
  specifier: string,
  className: string,
  codestream: Uint8Array,
  spec: FrameSpec,
  _checked: JpegFrameHeader,
): Promise<RawSamples> {
  const codecs = await loadWasm(specifier);
  const Decoder = codecs[className];
  if (!Decoder) throw new Error(`${specifier} has no ${className}`);
  const decoder = new Decoder();
  try {
    decoder.getEncodedBuffer(codestream.length).set(codestream);
    try {
      decoder.decode();
    } catch (error) {
      throw corrupt(what, describe(error));
    }
    const info = decoder.getFrameInfo();
    if (info.width !== spec.columns || info.height !== spec.rows || info.componentCount !== 1) {
      throw corrupt(what, `decoded ${info.width}×${info.height}×${info.componentCount} where the DICOM header says ${spec.columns}×${spec.rows}×1`);
    }
    const decoded = decoder.getDecodedBuffer();
    const count = spec.rows * spec.columns;
    const bytesPerSample = info.bitsPerSample > 8 ? 2 : 1;
    if (decoded.byteLength < count * bytesPerSample) throw corrupt(what, `decoded ${decoded.byteLength} bytes for ${count} samples`);
    // Copy out of WASM memory before the decoder frees it.
    if (bytesPerSample === 1) {
      const eight = Uint8Array.from(decoded.subarray(0, count));
      return spec.bitsAllocated === 8 ? eight : Uint16Array.from(eight);
    }
    const words = new Uint16Array(count);
    new Uint8Array(words.buffer).set(decoded.subarray(0, count * 2));
    return words;
  } finally {
    decoder.delete();
  }
}

let losslessModule: Promise<typeof import('jpeg-lossless-decoder-js')> | undefined;

async function decodeJpegLossless(codestream: Uint8Array, spec: FrameSpec): Promise<RawSamples> {
  const header = checkJpegFamilyHeader(codestream, spec, 'JPEG Lossless');
  if (header.marker !== 0xc3 && header.marker !== 0xc7) {
    throw corrupt('JPEG Lossless', `frame type SOF${header.marker - 0xc0} is not lossless (process 14)`);
  }
  losslessModule ??= import('jpeg-lossless-decoder-js');
  const { Decoder } = await losslessModule;
  let decoded: Uint8Array | Uint16Array | Int16Array;
  try {
    const copy = forLosslessDecoder(codestream);
    decoded = new Decoder().decode(copy.buffer as ArrayBuffer, 0, copy.byteLength, spec.bitsAllocated === 8 ? 1 : 2);
  } catch (error) {
    throw corrupt('JPEG Lossless', describe(error));
  }
  const count = spec.rows * spec.columns;
  if (!decoded || decoded.length < count) throw corrupt('JPEG Lossless', `decoded ${decoded?.length ?? 0} samples for ${count}`);
  if (spec.bitsAllocated === 8) return decoded instanceof Uint8Array ? decoded.subarray(0, count) : Uint8Array.from(decoded.subarray(0, count));
  return decoded instanceof Uint16Array ? decoded.subarray(0, count) : new Uint16Array(decoded.buffer, decoded.byteOffset, count);
}

/**
 * The codestream as jpeg-lossless-decoder-js needs it. That decoder reads ahead up to two bytes
 * for the last Huffman code; when those bytes are the EOI marker it takes the marker for the
 * end of the data and drops the last sample (a flat image shows it: its last code sits in the
 * final byte). Zero bytes between the entropy-coded data and EOI give it something harmless
 * to read ahead into; nothing is decoded from them. Trailing padding is removed first:
 * fragments have even lengths, so encoders pad odd codestreams, dcmtk with an extra 0xFF fill
 * byte before EOI, others with 0x00 after it.
 */
export function forLosslessDecoder(codestream: Uint8Array): Uint8Array {
  let end = codestream.length;
  while (end > 2 && codestream[end - 1] === 0x00) end--;
  if (end < 4 || codestream[end - 2] !== 0xff || codestream[end - 1] !== 0xd9) return Uint8Array.from(codestream.subarray(0, end));
  let data = end - 2;
  while (data > 2 && codestream[data - 1] === 0xff) data--;
  const out = new Uint8Array(data + LOOKAHEAD_PADDING + 2);
  out.set(codestream.subarray(0, data));
  out[out.length - 2] = 0xff;
  out[out.length - 1] = 0xd9;
  return out;
}
const LOOKAHEAD_PADDING = 4;

/** DICOM RLE (PS3.5 Annex G): one PackBits segment per byte plane, most significant first. */
export function decodeRle(data: Uint8Array, spec: FrameSpec): RawSamples {
  if (data.length < 64) throw corrupt('RLE', 'no RLE header');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const segments = view.getUint32(0, true);
  const planes = spec.bitsAllocated / 8;
  if (segments !== planes) throw corrupt('RLE', `${segments} segments where ${planes} byte planes are expected`);
  const count = spec.rows * spec.columns;
  const out = spec.bitsAllocated === 8 ? new Uint8Array(count) : new Uint16Array(count);
  const plane = new Uint8Array(count);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : data.length;
    if (start < 64 || start > data.length || end > data.length || end < start) throw corrupt('RLE', `segment ${s + 1} offset out of range`);
    unpackBits(data, start, end, plane, s + 1);
    const shift = 8 * (planes - 1 - s);
    for (let i = 0; i < count; i++) out[i] = out[i]! | (plane[i]! << shift);
  }
  return out;
}

function unpackBits(data: Uint8Array, pos: number, end: number, out: Uint8Array, segment: number): void {
  let o = 0;
  while (o < out.length) {
    if (pos >= end) throw corrupt('RLE', `segment ${segment} ends after ${o} of ${out.length} bytes`);
    const n = data[pos++]!;
    if (n < 128) {
      const run = n + 1;
      if (pos + run > end || o + run > out.length) throw corrupt('RLE', `segment ${segment} literal run overflows`);
      out.set(data.subarray(pos, pos + run), o);
      pos += run;
      o += run;
    } else if (n > 128) {
      const run = 257 - n;
      if (pos >= end || o + run > out.length) throw corrupt('RLE', `segment ${segment} replicate run overflows`);
      out.fill(data[pos++]!, o, o + run);
      o += run;
    } // 128: no operation
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0]!;
  if (typeof error === 'number') return `codec error ${error}`;
  return String(error).split('\n')[0]!;
}
