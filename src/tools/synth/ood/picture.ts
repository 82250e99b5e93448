/**
 * What a category generator hands back: either pixels (drawn here) or an SVG document that
 * librsvg rasterises when the file is written (text and vector drawings, which we do not
 * want to rasterise by hand). Keeping the two apart lets the writer treat every category
 * the same way.
 */
import { quantise } from '../quantise.js';

export interface Pixels {
  kind: 'pixels';
  width: number;
  height: number;
  /** 1 = grey, 3 = RGB (interleaved). */
  channels: 1 | 3;
  bits: 8 | 16;
  data: Uint8Array | Uint16Array;
}

export interface VectorPicture {
  kind: 'svg';
  width: number;
  height: number;
  svg: string;
  /** Written as a one-channel grey PNG instead of RGB. */
  grey: boolean;
}

export type Picture = Pixels | VectorPicture;

/** A float image, values 0…1, interleaved channels: what the procedural code draws into. */
export interface FloatImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Float32Array;
}

export function floatImage(width: number, height: number, channels: 1 | 3 = 1): FloatImage {
  return { width, height, channels, data: new Float32Array(width * height * channels) };
}

/** Rounds and clamps 0…1 floats to 8- or 16-bit samples. */
export function toPixels(image: FloatImage, bits: 8 | 16 = 8): Pixels {
  return { kind: 'pixels', width: image.width, height: image.height, channels: image.channels, bits, data: quantise(image.data, bits) };
}

/** 8-bit grey samples → floats 0…1, for shifts that filter an already-written phantom. */
export function greyToFloat(width: number, height: number, samples: Uint8Array): FloatImage {
  const image = floatImage(width, height, 1);
  for (let i = 0; i < samples.length; i++) image.data[i] = samples[i]! / 255;
  return image;
}

export function greyPixels(width: number, height: number, data: Uint8Array): Pixels {
  return { kind: 'pixels', width, height, channels: 1, bits: 8, data };
}

/** A frame where every sample has the same value (blank and saturated categories). */
export function uniformPixels(width: number, height: number, channels: 1 | 3, bits: 8 | 16, sample: number): Pixels {
  const data = bits === 8 ? new Uint8Array(width * height * channels) : new Uint16Array(width * height * channels);
  data.fill(sample);
  return { kind: 'pixels', width, height, channels, bits, data };
}
