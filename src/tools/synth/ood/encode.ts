/**
 * Picture → file with sharp. The colourspace is always named: sharp would otherwise write one
 * raw channel as RGB (8-bit), or quietly drop 16-bit samples to 8 bits.
 */
import sharp, { type Sharp } from 'sharp';
import type { Picture } from './picture.js';

export type OodFormat = 'png' | 'jpg';

export interface EncodeOptions {
  format: OodFormat;
  /** JPEG quality 1–100 (default 90). */
  quality?: number;
}

export function pictureToSharp(picture: Picture): Sharp {
  if (picture.kind === 'svg') {
    // librsvg renders at the SVG's own width/height (72 dpi); white behind anything transparent.
    const image = sharp(Buffer.from(picture.svg)).flatten({ background: '#ffffff' });
    return picture.grey ? image.toColourspace('b-w') : image.toColourspace('srgb');
  }
  const { width, height, channels, bits, data } = picture;
  // sharp takes the sample depth from the typed array (Uint16Array → 16-bit).
  const image = sharp(data, { raw: { width, height, channels } });
  if (channels === 1) return image.toColourspace(bits === 16 ? 'grey16' : 'b-w');
  return image.toColourspace(bits === 16 ? 'rgb16' : 'srgb');
}

export async function encodePicture(picture: Picture, options: EncodeOptions): Promise<Buffer> {
  return encoder(pictureToSharp(picture), options).toBuffer();
}

export async function writePicture(picture: Picture, target: string, options: EncodeOptions): Promise<void> {
  await encoder(pictureToSharp(picture), options).toFile(target);
}

function encoder(image: Sharp, options: EncodeOptions): Sharp {
  if (options.format === 'jpg') return image.jpeg({ quality: options.quality ?? 90 });
  return image.png({ compressionLevel: 6 });
}
