/**
 * What the out-of-distribution detector says about one image (docs/safety.md). Kept apart from
 * the detector itself so that history, payloads and reports can name it without loading it.
 */
export interface OodVerdict {
  /** The package's method, e.g. `msp+pca-residual`. */
  method: string;
  /** max over the parts, each divided by its own calibrated threshold: above `threshold` is outside. */
  score: number;
  /** Always 1 for the methods we ship (each part is already scaled by its threshold). */
  threshold: number;
  inDistribution: boolean;
  /** Each part's score divided by its threshold: `confidence` from the logits, `residual` from the features. */
  parts: { confidence: number; residual: number };
}

/** Set when the image was scored in another orientation/polarity because it was more familiar there. */
export interface OrientationCorrection {
  /** Clockwise degrees the image was turned before it was classified. */
  rotated: 0 | 90 | 180 | 270;
  /** The image was classified as its negative. */
  inverted: boolean;
  /** The verdict on the image as it arrived (outside the model's world, or less familiar than the correction). */
  asReceived: OodVerdict;
}

export function describeOrientation(correction: Pick<OrientationCorrection, 'rotated' | 'inverted'>): string {
  const parts = [correction.rotated !== 0 ? `rotated ${correction.rotated}°` : '', correction.inverted ? 'inverted (negative)' : ''].filter(Boolean);
  return parts.join(' and ');
}
