/**
 * `saturated`: frames clipped at the top of the scale: a detector flooded with light (every
 * sample at maximum) and a c-spine phantom so overexposed that most of the frame is clipped,
 * which no longer shows the answer even though it began as a labelled case.
 */
import { randomFrameSize, variantFor, type ItemContext, type OodItem } from './item.js';
import { greyPixels, uniformPixels } from './picture.js';

const VARIANTS = ['overexposed', 'max-8bit', 'overexposed', 'max-16bit', 'overexposed', 'max-rgb'] as const;

export function makeSaturated(context: ItemContext): OodItem {
  const variant = variantFor(VARIANTS, context.index);
  const { rng } = context;
  if (variant === 'overexposed') return overexposed(context);
  const [w, h] = randomFrameSize(rng);
  const picture = variant === 'max-16bit' ? uniformPixels(w, h, 1, 16, 65535) : uniformPixels(w, h, variant === 'max-rgb' ? 3 : 1, 8, 255);
  return { variant, picture, format: 'png', source: `saturated ${variant} ${w}x${h}` };
}

/**
 * Display gain such that a drawn share (60–90 %) of the pixels reach 255, with the rest
 * lifted off black as a washed-out film is.
 */
function overexposed({ rng, phantom }: ItemContext): OodItem {
  const fresh = phantom();
  const clipped = rng.uniform(0.6, 0.9);
  const lift = rng.uniform(0.15, 0.4);
  const sorted = Uint8Array.from(fresh.samples).sort();
  // The sample value at the (1 − clipped) quantile maps to 255; at least 1 so black stays finite.
  const knee = Math.max(1, sorted[Math.floor((1 - clipped) * (sorted.length - 1))]!);
  const out = new Uint8Array(fresh.samples.length);
  for (let i = 0; i < out.length; i++) {
    const v = lift + ((1 - lift) * fresh.samples[i]!) / knee;
    out[i] = v >= 1 ? 255 : Math.round(v * 255);
  }
  return {
    variant: `overexposed-${fresh.label}`,
    picture: greyPixels(fresh.width, fresh.height, out),
    format: 'png',
    label: fresh.label,
    source: `${fresh.source}; overexposed clipped=${clipped.toFixed(2)}`,
  };
}
