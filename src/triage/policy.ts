export type TriageLevel = 'GREEN' | 'AMBER' | 'RED' | 'FAULT';

export interface Triage {
  level: TriageLevel;
  reason: string;
}

export interface TriageThresholds {
  /** GREEN needs P(normal) at least this. */
  greenMinNormal: number;
  /** RED needs the top abnormal class at least this; below it the answer is AMBER "review". */
  redMinAbnormal: number;
}

export const DEFAULT_THRESHOLDS: TriageThresholds = { greenMinNormal: 0.9, redMinAbnormal: 0.6 };

/** Config wins over the model manifest, the manifest over built-in defaults. */
export function resolveThresholds(...sources: Array<Partial<TriageThresholds> | undefined>): TriageThresholds {
  const pick = (key: keyof TriageThresholds): number =>
    sources.map((source) => source?.[key]).find((value): value is number => value !== undefined) ?? DEFAULT_THRESHOLDS[key];
  return { greenMinNormal: pick('greenMinNormal'), redMinAbnormal: pick('redMinAbnormal') };
}

const percent = (p: number): string => `${(p * 100).toFixed(1)}%`;

/**
 * Probabilities → a lamp. Fail-safe by construction: GREEN is reachable only through one
 * explicit test on a valid distribution; every other path, including malformed input,
 * ends AMBER or RED.
 */
export function triage(labels: readonly string[], probabilities: readonly number[], thresholds: TriageThresholds): Triage {
  const valid =
    labels.length === probabilities.length &&
    labels.length > 0 &&
    probabilities.every((p) => Number.isFinite(p) && p >= 0 && p <= 1) &&
    Math.abs(probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-3;
  if (!valid) return { level: 'AMBER', reason: 'model output invalid — review the image' };

  const ranked = labels.map((label, i) => ({ label, p: probabilities[i]! })).sort((a, b) => b.p - a.p);
  const top = ranked[0]!;
  const normal = ranked.find((entry) => entry.label === 'normal');

  if (top.label === 'normal' && normal !== undefined && normal.p >= thresholds.greenMinNormal) {
    return { level: 'GREEN', reason: `normal (P=${percent(normal.p)})` };
  }
  if (top.label !== 'normal' && top.p >= thresholds.redMinAbnormal) {
    return { level: 'RED', reason: `${top.label} suspected (P=${percent(top.p)})` };
  }
  return { level: 'AMBER', reason: `low confidence — review (most likely ${top.label}, P=${percent(top.p)})` };
}

const PROCESSING_ERROR_CODES = /^E_(MODEL_|INFERENCE_|INTERNAL)/;

/** The lamp for an image that got no classification: never GREEN, and says whether to retake. */
export function rejectionTriage(code: string): Triage {
  return PROCESSING_ERROR_CODES.test(code)
    ? { level: 'AMBER', reason: `processing error (${code}) — review` }
    : { level: 'AMBER', reason: 'unreadable image — retake' };
}
