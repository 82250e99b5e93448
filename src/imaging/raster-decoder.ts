import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { ErrorCode, ImageRejectedError } from '../errors.js';
import { uint16Samples, type DecodedImage, type DecodeLimits, type ImageDecoder } from './image.js';
import { sniffFormat } from './sniff.js';

const SIXTEEN_BIT_DEPTHS = new Set(['ushort', 'short']);
const EIGHT_BIT_DEPTHS = new Set(['uchar', 'char']);

/** JPEG, PNG (8/16-bit), TIFF and WebP through sharp (libvips), reduced to one gray channel. */
export const rasterDecoder: ImageDecoder = {
  name: 'raster',
  accepts: (bytes) => sniffFormat(bytes) !== undefined,
  async decode(bytes: Buffer, limits: DecodeLimits): Promise<DecodedImage> {
    const format = sniffFormat(bytes)!;
    // failOn 'warning' refuses truncated or damaged files rather than classifying half an image.
    const open = () => sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'warning', sequentialRead: true });

    let metadata: Metadata;
    try {
      // Header only: safe without the pixel limit, and lets us name the size in the error.
      metadata = await sharp(bytes, { limitInputPixels: false, failOn: 'warning' }).metadata();
    } catch (error) {
      throw corrupt(format, error);
    }
    const { width, height, depth } = metadata;
    if (!width || !height) {
      throw new ImageRejectedError(ErrorCode.IMAGE_CORRUPT, `${format} header gives no image size`);
    }
    if (width * height > limits.maxPixels) {
      throw new ImageRejectedError(
        ErrorCode.IMAGE_TOO_LARGE,
        `${width}×${height} ${format} is ${(width * height / 1e6).toFixed(0)} Mpixel, over the limit of ${(limits.maxPixels / 1e6).toFixed(0)} Mpixel (imaging.maxPixels); refused before decoding`,
      );
    }
    const sixteenBit = depth !== undefined && SIXTEEN_BIT_DEPTHS.has(depth);
    if (!sixteenBit && !(depth !== undefined && EIGHT_BIT_DEPTHS.has(depth))) {
      throw new ImageRejectedError(ErrorCode.PIXEL_FORMAT_UNSUPPORTED, `${format} with ${depth ?? 'unknown'} samples is not supported (8 or 16-bit integer only)`);
    }

    let raw: { data: Buffer; info: OutputInfo };
    let colourfulness: number;
    try {
      let pipeline = open().autoOrient();
      if (metadata.hasAlpha) pipeline = pipeline.flatten({ background: '#000000' });
      // The chroma must be measured before the gray conversion throws it away; files with
      // colour channels only (a gray PNG saved as RGB measures 0 and passes).
      [raw, colourfulness] = await Promise.all([
        pipeline
          .toColourspace(sixteenBit ? 'grey16' : 'b-w')
          .extractChannel(0)
          .raw({ depth: sixteenBit ? 'ushort' : 'uchar' })
          .toBuffer({ resolveWithObject: true }),
        (metadata.channels ?? 1) >= 3 ? measureColourfulness(open(), metadata.hasAlpha === true) : Promise.resolve(0),
      ]);
    } catch (error) {
      throw corrupt(format, error);
    }
    const { info, data } = raw;
    return {
      format,
      width: info.width,
      height: info.height,
      bitsPerSample: sixteenBit ? 16 : 8,
      pixels: sixteenBit ? uint16Samples(data) : new Uint8Array(data.buffer, data.byteOffset, data.length),
      colourfulness,
    };
  },
};

/** Side of the small copy the chroma is measured on: colour areas survive the averaging. */
const CHROMA_SIDE = 128;

/**
 * Mean chroma, max(R, G, B) − min(R, G, B), over a copy at most 128 px a side, as a share of
 * full scale: 0 for gray in RGB, a few % for a tinted scan, tens of % for a colour photograph.
 * Runs beside the main decode, for files with colour channels only: a 1024×1280 JPEG shrinks on
 * load (about 12 ms), a PNG is decoded in full (about 30 ms, some 7 ms more wall time overall).
 */
async function measureColourfulness(image: Sharp, hasAlpha: boolean): Promise<number> {
  let pipeline = image;
  if (hasAlpha) pipeline = pipeline.flatten({ background: '#000000' });
  const { data, info } = await pipeline
    .resize(CHROMA_SIDE, CHROMA_SIDE, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const channels = info.channels;
  if (channels < 3) return 0;
  let total = 0;
  const count = info.width * info.height;
  for (let i = 0; i < count * channels; i += channels) {
    const r = data[i]!;
    const g = data[i + 1]!;
    const b = data[i + 2]!;
    total += Math.max(r, g, b) - Math.min(r, g, b);
  }
  return count === 0 ? 0 : total / count / 255;
}

function corrupt(format: string, error: unknown): ImageRejectedError {
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return new ImageRejectedError(ErrorCode.IMAGE_CORRUPT, `${format} data is damaged or truncated: ${reason}`, { cause: error });
}
