import type { Rng } from './prng.js';

export type PhantomLabel = 'normal' | 'fracture' | 'dislocation';
export const PHANTOM_LABELS: readonly PhantomLabel[] = ['normal', 'fracture', 'dislocation'];

export type LesionKind = 'none' | 'cortical-break' | 'wedge' | 'avulsion' | 'translation';

/**
 * What is wrong, and where. Magnitudes are in the units the drawing needs; `severity`
 * (0…1) is what produced them and is what labels.csv reports. In the standard population
 * the smallest severity is still plainly visible at 256×320; the clinical one (clinical.ts)
 * starts at the clinical criteria, and labels.csv gives both in clinical units (measure.ts).
 */
export type Lesion =
  | { kind: 'none' }
  | {
      kind: 'cortical-break';
      level: number;
      severity: number;
      /** Where the line crosses the body's middle, as a fraction of its height from the centre. */
      position: number;
      /** Tilt of the line from the endplates, radians. */
      angle: number;
      gap: number;
      /** Anterior shift of the lower fragment, mm. */
      step: number;
    }
  | { kind: 'wedge'; level: number; severity: number; /** Lost fraction of anterior height. */ reduction: number }
  | {
      kind: 'avulsion';
      level: number;
      severity: number;
      /** Fragment legs as fractions of body height (anterior face) and depth (endplate). */
      height: number;
      depth: number;
      /** Distance the fragment moved away, mm, and its turn, radians. */
      shift: number;
      turn: number;
    }
  | {
      kind: 'translation';
      level: number;
      severity: number;
      /** Anterior slip as a fraction of the body's depth. */
      slip: number;
      /** Flexion of the upper segment about the slipped body's antero-inferior corner, radians. */
      flexion: number;
    };

/** Injuries are placed at C3–C7, where the task says a classifier has to find them. */
const LEVELS = [3, 4, 5, 6, 7] as const;

/** An injury of the standard population. */
export function sampleLesion(rng: Rng, label: PhantomLabel): Lesion {
  if (label === 'normal') return { kind: 'none' };
  const level = rng.pick(LEVELS);
  const severity = rng.next();
  if (label === 'dislocation') {
    return {
      kind: 'translation',
      level,
      severity,
      slip: 0.2 + 0.3 * severity,
      flexion: ((4 + 6 * severity + rng.uniform(-1, 1)) * Math.PI) / 180,
    };
  }
  const kind = rng.pick(['cortical-break', 'wedge', 'avulsion'] as const);
  switch (kind) {
    case 'cortical-break':
      return {
        kind,
        level,
        severity,
        position: rng.uniform(-0.2, 0.2),
        angle: (rng.pick([-1, 1]) * rng.uniform(8, 28) * Math.PI) / 180,
        gap: 1.1 + 0.9 * severity,
        step: 1.4 + 2.2 * severity,
      };
    case 'wedge':
      return { kind, level, severity, reduction: 0.25 + 0.25 * severity };
    case 'avulsion':
      return {
        kind,
        level,
        severity,
        height: 0.4 + 0.15 * severity,
        depth: 0.4 + 0.15 * severity,
        shift: 2.2 + 2.3 * severity,
        turn: (rng.uniform(8, 25) * Math.PI) / 180,
      };
  }
}

export function labelOf(lesion: Lesion): PhantomLabel {
  if (lesion.kind === 'none') return 'normal';
  return lesion.kind === 'translation' ? 'dislocation' : 'fracture';
}
