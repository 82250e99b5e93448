import { ErrorCode, ImageRejectedError } from '../errors.js';
import type { DecodedImage, DecodeLimits, ImageDecoder } from './image.js';
import { dicomDecoder } from './dicom/decoder.js';
import { rasterDecoder } from './raster-decoder.js';
import { sniffRefusedFormat } from './sniff.js';

/** DICOM first: its 128-byte preamble may itself hold a TIFF header ("dual personality" files). */
export const DEFAULT_DECODERS: readonly ImageDecoder[] = [dicomDecoder, rasterDecoder];

/** Bytes → gray pixels, by the first decoder that recognises the content. */
export async function decodeImage(
  bytes: Buffer,
  limits: DecodeLimits,
  decoders: readonly ImageDecoder[] = DEFAULT_DECODERS,
): Promise<DecodedImage> {
  if (bytes.length === 0) throw new ImageRejectedError(ErrorCode.FILE_EMPTY, 'file is empty (0 bytes)');
  const decoder = decoders.find((candidate) => candidate.accepts(bytes));
  if (decoder) return decoder.decode(bytes, limits);
  const refused = sniffRefusedFormat(bytes);
  if (refused) {
    throw new ImageRejectedError(ErrorCode.FORMAT_UNSUPPORTED, `${refused} files are not accepted; send DICOM, JPEG, PNG, TIFF or WebP`);
  }
  throw new ImageRejectedError(ErrorCode.NOT_AN_IMAGE, 'content is not a recognised image (no DICOM, JPEG, PNG, TIFF or WebP signature), whatever its file name says');
}
