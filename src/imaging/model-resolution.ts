import { inputGeometry, type ModelManifest } from '../model/manifest.js';
import type { DecodeLimits } from './image.js';

/** `imaging.dicomDecode`: decode only as large as the model needs, or always in full. */
export type DicomDecode = 'model' | 'full';

/**
 * Headroom over the model's input side. A reduced decode must still be downscaled (never
 * upscaled) into every resize mode (letterbox, stretch, centre crop), so its short side is held
 * at the input's long side or more; the extra 10% keeps the final Lanczos resize a real
 * reduction, as it is from a full-size radiograph. Measured: docs/benchmarks-dicom.md.
 */
export const MODEL_RESOLUTION_MARGIN = 1.1;

/** The decode limits for a model: `imaging.maxPixels`, and the short side it needs unless `full`. */
export function decodeLimitsFor(imaging: { maxPixels: number; dicomDecode: DicomDecode }, input: ModelManifest['input']): DecodeLimits {
  if (imaging.dicomDecode === 'full') return { maxPixels: imaging.maxPixels };
  const { width, height } = inputGeometry(input);
  return { maxPixels: imaging.maxPixels, minShortSide: Math.ceil(Math.max(width, height) * MODEL_RESOLUTION_MARGIN) };
}
