import type { DecodedImage } from './image.js';

export interface Orientation {
  /** Clockwise degrees. */
  rotated: 0 | 90 | 180 | 270;
  inverted: boolean;
}

/**
 * The orientations tried, after the image as it arrived, when it looks unfamiliar: detectors
 * that rotate or flip their output and exports with the wrong polarity are the common causes.
 */
export const ORIENTATION_SEARCH: readonly Orientation[] = [
  { rotated: 180, inverted: false },
  { rotated: 90, inverted: false },
  { rotated: 270, inverted: false },
  { rotated: 0, inverted: true },
  { rotated: 180, inverted: true },
  { rotated: 90, inverted: true },
  { rotated: 270, inverted: true },
];

/** The image turned clockwise and/or inverted (full-scale negative), as a new image. */
export function reorient(image: DecodedImage, { rotated, inverted }: Orientation): DecodedImage {
  const { width, height, pixels } = image;
  const quarter = rotated === 90 || rotated === 270;
  const outWidth = quarter ? height : width;
  const outHeight = quarter ? width : height;
  const out = image.bitsPerSample === 16 ? new Uint16Array(width * height) : new Uint8Array(width * height);
  const full = image.bitsPerSample === 16 ? 65535 : 255;
  // Where source (x, y) lands after a clockwise turn: origin + x·stepX + y·stepY.
  const [origin, stepX, stepY] =
    rotated === 90 ? [height - 1, height, -1] : rotated === 180 ? [width * height - 1, -1, -width] : rotated === 270 ? [(width - 1) * height, -height, 1] : [0, 1, width];
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const rowOrigin = origin + y * stepY;
    for (let x = 0; x < width; x++) {
      const value = pixels[row + x]!;
      out[rowOrigin + x * stepX] = inverted ? full - value : value;
    }
  }
  return { ...image, width: outWidth, height: outHeight, pixels: out };
}
