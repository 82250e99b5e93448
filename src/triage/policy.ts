import { describeOrientation, type OodVerdict, type OrientationCorrection } from '../model/ood-verdict.js';

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

/** The thresholds a result was read with, and the validation report `greenMinNormal` came from. */
export interface AppliedThresholds extends TriageThresholds {
  /** sha256 of the `model validate` report; null for defaults chosen on phantoms, or a config override. */
  validatedBy: string | null;
}

/** resolveThresholds, and whether greenMinNormal is the manifest's validated one (docs/own-data.md). */
export function appliedThresholds(config: Partial<TriageThresholds>, manifest?: Partial<TriageThresholds> & { validation?: { reportSha256: string } | undefined }): AppliedThresholds {
  const fromManifest = config.greenMinNormal === undefined && manifest?.greenMinNormal !== undefined;
  return { ...resolveThresholds(config, manifest), validatedBy: fromManifest ? (manifest?.validation?.reportSha256 ?? null) : null };
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

/** What the OOD detector said, and the orientation the image was read in when it was corrected. */
export interface Familiarity {
  ood?: OodVerdict | undefined;
  orientation?: OrientationCorrection | undefined;
}

/**
 * Probabilities → a lamp. Fail-safe by construction: GREEN is reachable only through one
 * explicit test on a valid distribution; every other path, including malformed input,
 * ends AMBER or RED. An image whose header says it is not a cervical-spine lateral is AMBER
 * whatever the model says: the model was not made for it. So is an image the OOD detector
 * finds outside the model's world, and a normal read only after turning or inverting the
 * image (how it arrived is itself a doubt).
 */
export function triage(labels: readonly string[], probabilities: readonly number[], thresholds: TriageThresholds, exam?: Examination, familiarity: Familiarity = {}): Triage {
  const model = modelTriage(labels, probabilities, thresholds);
  const { ood, orientation } = familiarity;
  if (ood && !ood.inDistribution) {
    return { level: 'AMBER', reason: `outside what the model was trained on — review (OOD score ${ood.score.toFixed(2)} > ${ood.threshold}; it said: ${model.level} ${model.reason})` };
  }
  const mismatch = examinationMismatch(exam);
  if (mismatch !== undefined) {
    return { level: 'AMBER', reason: `${mismatch} — review; the model is for c-spine laterals (it said: ${model.level} ${model.reason})` };
  }
  if (!orientation) return model;
  const how = describeOrientation(orientation);
  if (model.level === 'GREEN') return { level: 'AMBER', reason: `normal only once ${how} — check how the image was exported; review` };
  return { level: model.level, reason: `${model.reason}; read ${how}` };
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

/** The quality gate's refusals (src/imaging/quality.ts): the image decoded but must not be judged. */
const QUALITY_REASONS: Record<string, string> = {
  E_QUALITY_BLANK: 'retake — blank or uniform frame',
  E_QUALITY_SATURATED: 'retake — saturated / over-exposed',
  E_QUALITY_LOW_CONTRAST: 'retake — too little contrast',
  E_QUALITY_COLOUR: 'retake — colour photograph, not a radiograph',
  E_QUALITY_TOO_SMALL: 'retake — image too small',
};

/** The lamp for an image that got no classification: never GREEN, and says whether to retake. */
export function rejectionTriage(code: string): Triage {
  const quality = QUALITY_REASONS[code];
  if (quality !== undefined) return { level: 'AMBER', reason: quality };
  return PROCESSING_ERROR_CODES.test(code)
    ? { level: 'AMBER', reason: `processing error (${code}) — review` }
    : { level: 'AMBER', reason: 'unreadable image — retake' };
}
