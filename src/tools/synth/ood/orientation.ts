/**
 * near-ood: a real c-spine phantom shown the wrong way: negative (inverted grey scale) or
 * turned by 90°, 180° or 270°. The content is in the model's world, the presentation is
 * not; a PACS export with the wrong photometric interpretation or a film scanned sideways
 * looks like this. Exact pixel operations, so the tests can undo them.
 */
import type { ItemContext, OodItem } from './item.js';
import { greyPixels } from './picture.js';

export type QuarterTurns = 1 | 2 | 3;

/** 255 − v: the negative of an 8-bit frame. */
export function invert(samples: Uint8Array): Uint8Array {
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = 255 - samples[i]!;
  return out;
}

/** Turns a frame clockwise by `turns` × 90°; 1 and 3 swap width and height. */
export function rotateQuarter(samples: Uint8Array, width: number, height: number, turns: QuarterTurns): { width: number; height: number; samples: Uint8Array } {
  const out = new Uint8Array(samples.length);
  const w = turns === 2 ? width : height;
  const h = turns === 2 ? height : width;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = samples[y * width + x]!;
      if (turns === 1) out[x * w + (height - 1 - y)] = v;
      else if (turns === 2) out[(height - 1 - y) * w + (width - 1 - x)] = v;
      else out[(width - 1 - x) * w + y] = v;
    }
  }
  return { width: w, height: h, samples: out };
}

export function makeInverted({ phantom }: ItemContext): OodItem {
  const fresh = phantom();
  return {
    variant: fresh.label,
    picture: greyPixels(fresh.width, fresh.height, invert(fresh.samples)),
    format: 'png',
    label: fresh.label,
    source: `${fresh.source}; inverted`,
  };
}

export function makeRotated(turns: QuarterTurns): (context: ItemContext) => OodItem {
  return ({ phantom }) => {
    const fresh = phantom();
    const turned = rotateQuarter(fresh.samples, fresh.width, fresh.height, turns);
    return {
      variant: fresh.label,
      picture: greyPixels(turned.width, turned.height, turned.samples),
      format: 'png',
      label: fresh.label,
      source: `${fresh.source}; rotated ${turns * 90} clockwise`,
    };
  };
}
