import type { DecodedImage } from './image.js';

export interface Orientation {
  /** Clockwise degrees. */
  rotated: 0 | 90 | 180 | 270;
  inverted: boolean;
}

/**
 * The orientations tried, after the image as it arrived, when it looks unfamiliar: a detector
 * or viewer that turned the image, or an export with the wrong polarity. One fault at a time:
 * an image both turned and inverted stays AMBER (docs/safety.md).
 */
export const ORIENTATION_SEARCH: readonly Orientation[] = [
  { rotated: 180, inverted: false },
  { rotated: 90, inverted: false },
  { rotated: 270, inverted: false },
  { rotated: 0, inverted: true },
];

/** Where source (x, y) of a width × height plane lands after a clockwise turn: origin + x·stepX + y·stepY. */
function turnSteps(width: number, height: number, rotated: Orientation['rotated']): [number, number, number] {
  if (rotated === 90) return [height - 1, height, -1];
  if (rotated === 180) return [width * height - 1, -1, -width];
  if (rotated === 270) return [(width - 1) * height, -height, 1];
  return [0, 1, width];
}

/** The image turned clockwise and/or inverted (full-scale negative), as a new image. */
export function reorient(image: DecodedImage, { rotated, inverted }: Orientation): DecodedImage {
  const { width, height, pixels } = image;
  const quarter = rotated === 90 || rotated === 270;
  const out = image.bitsPerSample === 16 ? new Uint16Array(width * height) : new Uint8Array(width * height);
  const full = image.bitsPerSample === 16 ? 65535 : 255;
  const [origin, stepX, stepY] = turnSteps(width, height, rotated);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const rowOrigin = origin + y * stepY;
    for (let x = 0; x < width; x++) {
      const value = pixels[row + x]!;
      out[rowOrigin + x * stepX] = inverted ? full - value : value;
    }
  }
  const turned = { ...image, width: quarter ? height : width, height: quarter ? width : height, pixels: out };
  const { fullSize } = image;
  if (fullSize && quarter) turned.fullSize = { width: fullSize.height, height: fullSize.width };
  return turned;
}

/**
 * A square model input turned clockwise, channel by channel. A centred letterbox turned is, to
 * a pixel of padding, the letterbox of the turned image: the search can skip decoding-size work.
 */
export function turnTensor(tensor: Float32Array, size: number, channels: number, layout: 'NCHW' | 'NHWC', rotated: Orientation['rotated']): Float32Array {
  const turned = new Float32Array(tensor.length);
  const [origin, stepX, stepY] = turnSteps(size, size, rotated);
  const plane = size * size;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const from = y * size + x;
        const to = origin + x * stepX + y * stepY;
        if (layout === 'NCHW') turned[c * plane + to] = tensor[c * plane + from]!;
        else turned[to * channels + c] = tensor[from * channels + c]!;
      }
    }
  }
  return turned;
}
