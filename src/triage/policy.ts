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

/** What the image's own header says was examined (DICOM BodyPartExamined / ViewPosition). */
export interface Examination {
  bodyPartExamined: string | null;
  viewPosition: string | null;
}

/** BodyPartExamined values that mean the cervical spine (DICOM's CSPINE, vendor spellings, German HWS). */
const CERVICAL_SPINE = new Set(['CSPINE', 'C-SPINE', 'C SPINE', 'CERVICAL SPINE', 'CERVICALSPINE', 'CERVICAL_SPINE', 'CSPINE LAT', 'HWS']);
/** ViewPosition values of a lateral projection (DICOM LL/RL; vendor LAT, LATERAL). Decubitus (LLD/RLD) is not. */
const LATERAL = new Set(['LL', 'RL', 'LAT', 'LATERAL']);

/**
 * Why the header says this is not a cervical-spine lateral, or undefined when it does not say
 * so (absent attributes say nothing: most film digitisers and many CR units leave them empty).
 */
export function examinationMismatch(exam: Examination | undefined): string | undefined {
  if (!exam) return undefined;
  const problems: string[] = [];
  if (exam.bodyPartExamined !== null && !CERVICAL_SPINE.has(exam.bodyPartExamined)) problems.push(`BodyPartExamined ${exam.bodyPartExamined}`);
  if (exam.viewPosition !== null && !LATERAL.has(exam.viewPosition)) problems.push(`ViewPosition ${exam.viewPosition}`);
  return problems.length === 0 ? undefined : `not a cervical-spine lateral (${problems.join(', ')})`;
}

/**
 * Probabilities → a lamp. Fail-safe by construction: GREEN is reachable only through one
 * explicit test on a valid distribution; every other path, including malformed input,
 * ends AMBER or RED. An image whose header says it is not a cervical-spine lateral is AMBER
 * whatever the model says: the model was not made for it.
 */
export function triage(labels: readonly string[], probabilities: readonly number[], thresholds: TriageThresholds, exam?: Examination): Triage {
  const model = modelTriage(labels, probabilities, thresholds);
  const mismatch = examinationMismatch(exam);
  if (mismatch === undefined) return model;
  return { level: 'AMBER', reason: `${mismatch} — review; the model is for c-spine laterals (it said: ${model.level} ${model.reason})` };
}

function modelTriage(labels: readonly string[], probabilities: readonly number[], thresholds: TriageThresholds): Triage {
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
