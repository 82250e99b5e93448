/**
 * Every OOD category: its folder name, its group and the function that draws item i. The
 * order here is the order of the folders in ood.csv: far-ood, near-ood, in-distribution.
 */
import { makeAnatomy } from './anatomy/index.js';
import { makeBlank } from './blank.js';
import { makeDocument } from './documents.js';
import { makeDrawing } from './drawings.js';
import type { ItemMaker, OodGroup } from './item.js';
import { makeNoise } from './noise.js';
import { makeInverted, makeRotated } from './orientation.js';
import { makePhoto } from './photos.js';
import { makeSaturated } from './saturated.js';
import { makeBlur, makeCollimation, makeFresh, makeGamma, makeJpeg, makeLowRes, makeMirror, makeNoisy, makeRotate } from './shifts.js';

export const OOD_CATEGORIES = [
  'blank',
  'saturated',
  'noise',
  'photos',
  'drawings',
  'documents',
  'anatomy',
  'inverted',
  'rotated90',
  'rotated180',
  'rotated270',
  'fresh',
  'shift-mirror',
  'shift-blur',
  'shift-noise',
  'shift-gamma',
  'shift-jpeg',
  'shift-lowres',
  'shift-rotate',
  'shift-collimation',
] as const;

export type OodCategory = (typeof OOD_CATEGORIES)[number];

export interface CategorySpec {
  group: OodGroup;
  make: ItemMaker;
}

export const CATEGORY_SPECS: Record<OodCategory, CategorySpec> = {
  blank: { group: 'far-ood', make: makeBlank },
  saturated: { group: 'far-ood', make: makeSaturated },
  noise: { group: 'far-ood', make: makeNoise },
  photos: { group: 'far-ood', make: makePhoto },
  drawings: { group: 'far-ood', make: makeDrawing },
  documents: { group: 'far-ood', make: makeDocument },
  anatomy: { group: 'far-ood', make: makeAnatomy },
  inverted: { group: 'near-ood', make: makeInverted },
  rotated90: { group: 'near-ood', make: makeRotated(1) },
  rotated180: { group: 'near-ood', make: makeRotated(2) },
  rotated270: { group: 'near-ood', make: makeRotated(3) },
  fresh: { group: 'in-distribution', make: makeFresh },
  'shift-mirror': { group: 'in-distribution', make: makeMirror },
  'shift-blur': { group: 'in-distribution', make: makeBlur },
  'shift-noise': { group: 'in-distribution', make: makeNoisy },
  'shift-gamma': { group: 'in-distribution', make: makeGamma },
  'shift-jpeg': { group: 'in-distribution', make: makeJpeg },
  'shift-lowres': { group: 'in-distribution', make: makeLowRes },
  'shift-rotate': { group: 'in-distribution', make: makeRotate },
  'shift-collimation': { group: 'in-distribution', make: makeCollimation },
};

export function isOodCategory(name: string): name is OodCategory {
  return (OOD_CATEGORIES as readonly string[]).includes(name);
}
