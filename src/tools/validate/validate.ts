import fs from 'node:fs';
import path from 'node:path';
import { toCspineError } from '../../errors.js';
import type { Classifier } from '../../pipeline/classifier.js';
import type { TriageLevel, TriageThresholds } from '../../triage/policy.js';
import { readDataset } from '../evaluate/evaluate.js';
import { classCounts, computeMetrics } from '../evaluate/metrics.js';
import { greenFilmsNeeded, lampTable, recommendedRow, type LampRow, type ReadFilm } from './operating-point.js';
import { wilson, type Proportion } from './wilson.js';

export interface ValidationTarget {
  /** The upper confidence bound on injured spines among GREEN must be at most this (0.005 = 0.5%). */
  maxInjuredAmongGreen: number;
  confidence: number;
}

export interface ValidationReport {
  schema: 'cspine.validation.v1';
  model: { id: string; sha256: string };
  /** The folder's name only: a site's path may name a patient or a study. */
  data: { name: string; films: number; byClass: Record<string, number>; rejected: Array<{ file: string; code: string }> };
  date: string;
  target: ValidationTarget;
  /** The thresholds the films were read with (config over manifest over defaults). */
  thresholds: TriageThresholds;
  accuracy: number;
  confusion: number[][];
  perClass: Array<{ label: string; sensitivity: Proportion; specificity: Proportion }>;
  expectedCalibrationError: number;
  /** Films the OOD detector found unfamiliar; null for a package without OOD statistics. */
  oodFlagged: Proportion | null;
  /** Lamps at the thresholds read with, per true class. */
  lamps: Record<string, Record<Exclude<TriageLevel, 'FAULT'>, number>>;
  lampTable: LampRow[];
  recommendation: { greenMinNormal: number; row: LampRow } | { greenMinNormal: null; reason: string };
  /** GREEN films, none injured, that the target needs at the least. */
  greenFilmsNeeded: number;
}

/**
 * Reads every labelled film through the classifier, as the box would, and measures what the
 * lamps do and what they would do at every candidate `greenMinNormal`. Rejected films (the
 * quality gate, unreadable files) are listed with their codes and are in no rate.
 */
export async function validate(classifier: Classifier, dataDir: string, target: ValidationTarget, onProgress?: (done: number, total: number, file: string) => void): Promise<ValidationReport> {
  const { manifest } = classifier.engine.model;
  const { labels } = manifest;
  if (!labels.includes('normal')) throw new Error(`${manifest.id} has no "normal" label: there is no GREEN to validate`);
  const films = readDataset(dataDir, labels);
  if (films.length === 0) throw new Error(`no labelled films in ${dataDir}: expected labels.csv, or sub-folders ${labels.join('/')}/ (or c-spine_nor/, c-spine_frac/, c-spine_dis/)`);
  const unknown = films.find((film) => !labels.includes(film.label));
  if (unknown) throw new Error(`${unknown.file} is labelled "${unknown.label}", which the model does not know (${labels.join(', ')})`);

  const read: ReadFilm[] = [];
  const rejected: Array<{ file: string; code: string }> = [];
  const lamps = Object.fromEntries(labels.map((label) => [label, { GREEN: 0, AMBER: 0, RED: 0 }]));
  let flagged = 0;
  let guarded = 0;
  for (const [index, film] of films.entries()) {
    try {
      const result = await classifier.classify(await fs.promises.readFile(film.file));
      read.push({ truth: film.label, probabilities: labels.map((label) => result.probabilities[label]!), exam: result.dicom, familiarity: { ood: result.ood, orientation: result.orientation } });
      lamps[film.label]![result.triage.level as Exclude<TriageLevel, 'FAULT'>]++;
      if (result.ood) {
        guarded++;
        if (!result.ood.inDistribution) flagged++;
      }
    } catch (error) {
      rejected.push({ file: path.relative(dataDir, film.file), code: toCspineError(error).code });
    }
    onProgress?.(index + 1, films.length, film.file);
  }

  const { thresholds } = classifier;
  const metrics = computeMetrics(
    read.map((film) => ({ truth: labels.indexOf(film.truth), probabilities: film.probabilities })),
    labels,
  );
  const rows = lampTable(read, labels, thresholds.redMinAbnormal, target.maxInjuredAmongGreen, target.confidence);
  const best = recommendedRow(rows);
  const needed = greenFilmsNeeded(target.maxInjuredAmongGreen, target.confidence);
  return {
    schema: 'cspine.validation.v1',
    model: { id: manifest.id, sha256: manifest.sha256 },
    data: { name: path.basename(path.resolve(dataDir)), films: films.length, byClass: Object.fromEntries(labels.map((label) => [label, films.filter((film) => film.label === label).length])), rejected },
    date: new Date().toISOString(),
    target,
    thresholds,
    accuracy: metrics.accuracy,
    confusion: metrics.confusion,
    perClass: labels.map((label, c) => {
      const { tp, fp, fn, tn } = classCounts(metrics.confusion, c);
      return { label, sensitivity: wilson(tp, tp + fn, target.confidence), specificity: wilson(tn, tn + fp, target.confidence) };
    }),
    expectedCalibrationError: metrics.expectedCalibrationError,
    oodFlagged: guarded === 0 ? null : wilson(flagged, guarded, target.confidence),
    lamps,
    lampTable: rows,
    recommendation: best
      ? { greenMinNormal: best.greenMinNormal, row: best }
      : { greenMinNormal: null, reason: noRecommendation(rows, needed, target, read.length) },
    greenFilmsNeeded: needed,
  };
}

const percent = (share: number) => `${Number((share * 100).toFixed(2))}%`;

function noRecommendation(rows: readonly LampRow[], needed: number, target: ValidationTarget, films: number): string {
  const bound = `the upper ${percent(target.confidence)} bound on injured spines among GREEN within ${percent(target.maxInjuredAmongGreen)}`;
  const mostGreen = Math.max(0, ...rows.map((row) => row.normalsGreen.successes + row.injuredGreen.successes));
  if (mostGreen < needed) {
    return `no greenMinNormal keeps ${bound} on these ${films} films: even with none injured that takes ${needed} GREEN films, and at most ${mostGreen} are GREEN here; validate on more normal films, or accept a looser target knowingly`;
  }
  return `no greenMinNormal keeps ${bound}: injured spines are shown GREEN at every threshold that shows ${needed} or more films GREEN; this model is not fit for GREEN on these films`;
}
