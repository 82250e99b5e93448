/** A decoded radiograph: one gray channel, full resolution, native bit depth (8 or 16). */
export interface DecodedImage {
  /** Container format as detected from the bytes, e.g. `png`, `jpeg`, later `dicom`. */
  format: string;
  width: number;
  height: number;
  bitsPerSample: 8 | 16;
  /** Row-major gray samples: Uint8Array for 8-bit, Uint16Array for 16-bit. */
  pixels: Uint8Array | Uint16Array;
}

export interface DecodeLimits {
  /** width × height allowed, checked from the header before decoding. */
  maxPixels: number;
}

/**
 * One decoder per family of formats. `accepts` looks at the bytes, never at the file name,
 * so a DICOM decoder can slot in beside the raster one.
 */
export interface ImageDecoder {
  readonly name: string;
  accepts(bytes: Buffer): boolean;
  decode(bytes: Buffer, limits: DecodeLimits): Promise<DecodedImage>;
}

/** sharp's 16-bit raw output as samples (native byte order), copied only when misaligned. */
export function uint16Samples(data: Buffer): Uint16Array {
  if (data.byteOffset % 2 === 0) return new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
  return new Uint16Array(Uint8Array.from(data).buffer);
}
