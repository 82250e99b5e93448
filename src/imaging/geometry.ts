import { inputGeometry } from '../model/manifest.js';
import type { PreprocessSpec } from './preprocess.js';

/** How image coordinates map onto the model input: input = image × scale + offset, per axis. */
export interface InputMapping {
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
  inputWidth: number;
  inputHeight: number;
}

/** The same geometry sharp applies in preprocess (fill / contain / cover, centred). */
export function inputMapping(spec: PreprocessSpec, imageWidth: number, imageHeight: number): InputMapping {
  const { width, height } = inputGeometry(spec.input);
  const sx = width / imageWidth;
  const sy = height / imageHeight;
  if (spec.preprocess.resize === 'stretch') return { scaleX: sx, scaleY: sy, offsetX: 0, offsetY: 0, inputWidth: width, inputHeight: height };
  const s = spec.preprocess.resize === 'letterbox' ? Math.min(sx, sy) : Math.max(sx, sy);
  return { scaleX: s, scaleY: s, offsetX: (width - imageWidth * s) / 2, offsetY: (height - imageHeight * s) / 2, inputWidth: width, inputHeight: height };
}
