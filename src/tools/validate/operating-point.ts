import { triage, type Examination, type Familiarity } from '../../triage/policy.js';
import { normalQuantile, wilson, type Proportion } from './wilson.js';

/** One validation film as the model read it: what the lamp policy needs to be re-applied at any threshold. */
export interface ReadFilm {
  truth: string;
  /** In the manifest's label order. */
  probabilities: readonly number[];
  exam?: Examination | undefined;
  familiarity: Familiarity;
}

/** What GREEN would mean at one `greenMinNormal`, on the validation films. */
export interface LampRow {
  greenMinNormal: number;
  /** Normals shown GREEN (the lamp's use). */
  normalsGreen: Proportion;
  /** Injured spines shown GREEN, of all injured (the miss rate). */
  injuredGreen: Proportion;
  /** Injured spines among everything shown GREEN (what GREEN is worth at this set's prevalence). */
  injuredAmongGreen: Proportion;
  /** The upper bound of `injuredAmongGreen` is within the target. */
  meetsTarget: boolean;
}

/** 0.50 to 0.99 by 0.01, then 0.995 and 0.999: below 0.5 another class outranks normal anyway. */
export const CANDIDATE_THRESHOLDS: readonly number[] = [...Array.from({ length: 50 }, (_unused, i) => (50 + i) / 100), 0.995, 0.999];

/**
 * The lamp table: for each candidate `greenMinNormal`, the real lamp policy (src/triage/policy.ts)
 * applied again to each film's probabilities, header and familiarity verdicts, so an unfamiliar
 * or mislabelled-header film stays AMBER here as it would on the box.
 */
export function lampTable(films: readonly ReadFilm[], labels: readonly string[], redMinAbnormal: number, target: number, confidence: number, candidates = CANDIDATE_THRESHOLDS): LampRow[] {
  const normals = films.filter((film) => film.truth === 'normal');
  const injured = films.filter((film) => film.truth !== 'normal');
  return candidates.map((greenMinNormal) => {
    const green = (film: ReadFilm) => triage(labels, film.probabilities, { greenMinNormal, redMinAbnormal }, film.exam, film.familiarity).level === 'GREEN';
    const normalsGreen = normals.filter(green).length;
    const injuredGreen = injured.filter(green).length;
    const injuredAmongGreen = wilson(injuredGreen, normalsGreen + injuredGreen, confidence);
    return {
      greenMinNormal,
      normalsGreen: wilson(normalsGreen, normals.length, confidence),
      injuredGreen: wilson(injuredGreen, injured.length, confidence),
      injuredAmongGreen,
      // No GREEN at all proves nothing: its bound is 100%.
      meetsTarget: injuredAmongGreen.high <= target,
    };
  });
}

/**
 * The threshold to use: of those meeting the target, the one that shows the most normals GREEN;
 * on a tie, the stricter one. Undefined when none meets it (too few films, or a model that
 * shows injured spines GREEN at every threshold).
 */
export function recommendedRow(rows: readonly LampRow[]): LampRow | undefined {
  let best: LampRow | undefined;
  for (const row of rows) {
    if (!row.meetsTarget) continue;
    if (!best || row.normalsGreen.successes > best.normalsGreen.successes || (row.normalsGreen.successes === best.normalsGreen.successes && row.greenMinNormal > best.greenMinNormal)) best = row;
  }
  return best;
}

/**
 * How many GREEN films, none of them injured, bring the upper bound down to `target`: the least a
 * site must validate on. Wilson's upper bound for 0 of n is z² / (n + z²).
 */
export function greenFilmsNeeded(target: number, confidence: number): number {
  const z = normalQuantile(1 - (1 - confidence) / 2);
  return Math.ceil((z * z * (1 - target)) / target);
}
