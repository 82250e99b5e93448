/**
 * The radiographic lines a reader draws on a lateral c-spine, and each injury's severity as a
 * multiple of its line (1 = exactly at the criterion). Sources and the reasoning are in
 * docs/phantoms.md, "Severity in clinical units".
 */

export const CRITERIA = {
  /** White, Johnson, Panjabi & Southwick 1975: sagittal translation of more than 3.5 mm… */
  translationMm: 3.5,
  /** …or, in White & Panjabi's checklist, more than 20% of the vertebral body's AP depth. */
  translationShare: 0.2,
  /** White et al. 1975: sagittal rotation (here kyphotic) more than 11° beyond that of the adjacent interspaces. */
  angulationDeg: 11,
  /** Genant 1993: a vertebral deformity starts at a 20% loss of anterior (or any) height. */
  heightLoss: 0.2,
  /** No published line for a fragment: this project's own "displaced" threshold, 2 mm. */
  displacementMm: 2,
} as const;

/** What labels.csv's `kind` says, and the measure its criterion is judged on. */
export type InjuryKind = 'translation' | 'wedge' | 'cortical-break' | 'avulsion';

/** The criterion each kind of injury is measured against, in words, for reports. */
export const CRITERION_TEXT: Record<InjuryKind | 'none', string> = {
  translation: `translation > ${CRITERIA.translationMm} mm or > ${CRITERIA.translationShare * 100}% of the AP depth, or kyphotic angulation > ${CRITERIA.angulationDeg}°`,
  wedge: `anterior height loss > ${CRITERIA.heightLoss * 100}%`,
  'cortical-break': `fragment step-off > ${CRITERIA.displacementMm} mm (project's line)`,
  avulsion: `fragment displacement > ${CRITERIA.displacementMm} mm (project's line)`,
  none: 'the largest of the translation, angulation and height-loss ratios',
};

/** Translation as a multiple of its criterion: whichever of the two limits is crossed first. */
export function translationRatio(translationMm: number, depthShare: number): number {
  return Math.max(Math.abs(translationMm) / CRITERIA.translationMm, Math.abs(depthShare) / CRITERIA.translationShare);
}

/**
 * Only kyphotic (flexion) angulation counts: a segment more lordotic than its neighbours is
 * what every neighbour of a flexed segment looks like, not an injury of its own.
 */
export function angulationRatio(angulationDeg: number): number {
  return Math.max(0, angulationDeg) / CRITERIA.angulationDeg;
}

/** Only a loss counts: a body taller in front than behind is not a deformity. */
export function heightLossRatio(loss: number): number {
  return Math.max(0, loss) / CRITERIA.heightLoss;
}

export function displacementRatio(displacementMm: number): number {
  return displacementMm / CRITERIA.displacementMm;
}

/**
 * The smallest translation (mm) at an interspace that meets the criterion, for an upper body of
 * this depth: 20% of a small body is under 3.5 mm, so the share decides there.
 */
export function translationAtCriterion(depthMm: number): number {
  return Math.min(CRITERIA.translationMm, CRITERIA.translationShare * depthMm);
}
