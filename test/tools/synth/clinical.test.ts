import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCanvas, fillPolygon } from '../../../src/tools/synth/canvas.js';
import { angulationRatio, CRITERIA, displacementRatio, heightLossRatio, translationRatio } from '../../../src/tools/synth/criteria.js';
import { generatePhantoms, LABELS_HEADER, PHANTOM_LABELS, phantomParams, renderPhantom, type PhantomLabel, type PhantomParams, type Variation } from '../../../src/tools/synth/generate.js';
import { compose, IDENTITY, transform, transformPoint, type Affine } from '../../../src/tools/synth/geometry.js';
import { measureCase } from '../../../src/tools/synth/measure.js';
import { levelMotion } from '../../../src/tools/synth/motion.js';
import { caseSeed } from '../../../src/tools/synth/prng.js';
import { buildScene } from '../../../src/tools/synth/scene.js';
import { frameOf } from '../../../src/tools/synth/spine.js';

async function labels(t: ExecutionContext, count: number, seed: number, variation?: Variation): Promise<Record<string, string>[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-clinical-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { labelsCsv } = await generatePhantoms({ outDir: dir, count, seed, ...(variation ? { variation } : {}) });
  const [header, ...lines] = fs.readFileSync(labelsCsv, 'utf8').trimEnd().split('\n');
  t.is(header, LABELS_HEADER);
  const columns = header!.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((cell, i) => [columns[i]!, cell])));
}

/** What a row's clinical columns say its criterion ratio is, from the criteria alone. */
function ratioFromColumns(row: Record<string, string>): number {
  const translation = translationRatio(Number(row.translation_mm), Number(row.translation_pct) / 100);
  const angulation = angulationRatio(Number(row.angulation_deg));
  const height = heightLossRatio(Number(row.height_loss_pct) / 100);
  switch (row.kind) {
    case 'none':
      // The reported interspace is the worst one; the worst body may be elsewhere.
      return Math.max(translation, angulation, height);
    case 'translation':
      return Math.max(translation, angulation);
    case 'wedge':
      return height;
    default:
      return displacementRatio(Number(row.displacement_mm));
  }
}

test('every mode writes the clinical columns, and they agree with the criteria', async (t) => {
  for (const variation of [undefined, 'clinical'] as const) {
    const rows = await labels(t, 30, 4, variation);
    for (const row of rows) {
      t.is(row.variation, variation ?? 'standard');
      const mmPerPx = Number(row.mm_per_px);
      // 256×320 frames a neck at about 1.5–1.8 px/mm.
      t.true(mmPerPx > 0.45 && mmPerPx < 0.8, row.mm_per_px);
      t.regex(row.interspace!, /^C[2-7]\/(C[3-7]|T1)$/);
      if (row.kind !== 'none') t.is(row.interspace!.split('/')[0], row.vertebra);
      t.is(row.displacement_mm === '', !['cortical-break', 'avulsion'].includes(row.kind!), row.kind);
      const ratio = Number(row.criterion_ratio);
      if (row.kind === 'none') t.true(ratio + 0.002 >= ratioFromColumns(row), `${row.file}: ${ratio}`);
      else t.true(Math.abs(ratio - ratioFromColumns(row)) < 0.003, `${row.file}: ${ratio} vs ${ratioFromColumns(row)}`);
    }
  }
});

/** Case i of seed s as the generator draws it. */
const clinicalCase = (seed: number, i: number, label: PhantomLabel): PhantomParams => phantomParams(caseSeed(seed, i), label, 256, 320, 'clinical');

test('clinical normals stay under every criterion; injuries start just over theirs and reach 2.5×', (t) => {
  const ratios: Record<string, number[]> = {};
  let kyphoticNecks = 0;
  let angulationOnly = 0;
  for (let i = 0; i < 900; i++) {
    const label = PHANTOM_LABELS[i % 3]!;
    const { anatomy, lesion } = clinicalCase(8, i, label);
    const measured = measureCase(anatomy, lesion);
    (ratios[lesion.kind] ??= []).push(measured.criterionRatio);
    if (label === 'normal' && anatomy.vertebrae[3]!.angle < anatomy.vertebrae[1]!.angle - 0.05) kyphoticNecks++;
    if (lesion.kind === 'translation' && translationRatio(measured.translationMm, measured.translationShare) < 1) {
      t.true(measured.angulationDeg > CRITERIA.angulationDeg, 'a dislocation under the translation line is over the angulation line');
      angulationOnly++;
    }
  }
  const normals = ratios.none!;
  t.true(Math.max(...normals) <= 0.9 + 1e-9, `largest normal ${Math.max(...normals)}`);
  t.true(normals.filter((r) => r >= 0.5).length > normals.length * 0.4, 'many normals come near the line');
  t.true(kyphoticNecks > 10, `${kyphoticNecks} kyphotic mid-necks`);
  t.true(angulationOnly > 10, `${angulationOnly} angulation-led dislocations`);
  for (const kind of ['translation', 'wedge', 'cortical-break', 'avulsion']) {
    const injured = ratios[kind]!;
    t.true(injured.length > 50, kind);
    t.true(Math.min(...injured) >= 1.0 && Math.max(...injured) <= 2.5 + 1e-9, `${kind}: ${Math.min(...injured)}–${Math.max(...injured)}`);
    t.true(injured.filter((r) => r < 1.5).length > injured.length * 0.6, `${kind}: most near the line`);
  }
});

test('a clinical case under another label is the same patient on the same film', (t) => {
  for (let i = 0; i < 12; i++) {
    const normal = clinicalCase(9, i, 'normal');
    const injured = clinicalCase(9, i, i % 2 ? 'fracture' : 'dislocation');
    t.deepEqual(injured.imaging, normal.imaging);
    if (injured.lesion.kind === 'none') continue;
    const level = injured.lesion.level;
    // Only a physiological step or wedge at the injured level is left out.
    t.deepEqual(
      injured.anatomy.steps.filter((s) => s.level !== level),
      normal.anatomy.steps.filter((s) => s.level !== level),
    );
    const elsewhere = (p: PhantomParams) => p.anatomy.vertebrae.filter((v) => v.level !== level);
    t.deepEqual(elsewhere(injured), elsewhere(normal));
  }
});

test('the box of every clinical injury lies inside the image', (t) => {
  for (let i = 0; i < 40; i++) {
    for (const label of ['fracture', 'dislocation'] as const) {
      const box = renderPhantom(clinicalCase(13, i, label)).box!;
      t.true(box.x >= 0 && box.y >= 0 && box.x + box.w <= 256 && box.y + box.h <= 320, JSON.stringify(box));
      t.true(box.w >= 12 && box.w <= 80 && box.h >= 12 && box.h <= 80, JSON.stringify(box));
    }
  }
});

test('the standard population is untouched by the clinical option', (t) => {
  const standard = phantomParams(caseSeed(2, 5), 'dislocation', 256, 320);
  t.deepEqual(phantomParams(caseSeed(2, 5), 'dislocation', 256, 320, 'standard'), standard);
  t.deepEqual(standard.anatomy.steps, []);
  t.notDeepEqual(clinicalCase(2, 5, 'dislocation').lesion, standard.lesion);
});

type Point = [number, number];

/**
 * A body as a reader finds it on the picture: its outline as the renderer fills it, rasterised
 * at 20 px/mm in the body's own frame; the posterior wall and the endplates fitted to the
 * filled pixels' edges along their straight parts (the corners are rounded over 1.6 mm, the
 * endplates' middles over 4 mm), the corners where those lines meet. Anatomy millimetres.
 */
function drawnBody(outlines: number[][], placed: Affine, depth: number, height: number): { posteriorSuperior: Point; posteriorInferior: Point; wall: Point } {
  const pxPerMm = 20;
  const size = 40 * pxPerMm;
  const canvas = createCanvas(size, size);
  for (const outline of outlines) fillPolygon(canvas, transform(outline, compose({ a: pxPerMm, b: 0, c: 0, d: pxPerMm, e: size / 2, f: size / 2 }, invert(placed))), 1);
  const at = (x: number, y: number) => canvas.data[y * size + x]!;
  const toPx = (mm: number) => Math.round(size / 2 + mm * pxPerMm);
  const toMm = (px: number) => (px - size / 2) / pxPerMm;
  const d = depth / 2;
  const h = height / 2;
  // Posterior wall: u of the last covered pixel in each row, plus its coverage.
  const wall: Point[] = [];
  for (let y = toPx(-h + 2); y <= toPx(h - 2); y++) {
    let x = size - 1;
    while (x > 0 && at(x, y) === 0) x--;
    wall.push([toMm(y + 0.5), toMm(x + at(x, y))]);
  }
  const endplate = (sign: -1 | 1): Point[] => {
    const points: Point[] = [];
    for (let x = toPx(d - 3.5); x <= toPx(d - 2); x++) {
      let y = sign > 0 ? size - 1 : 0;
      while (at(x, y) === 0) y -= sign;
      points.push([toMm(x + 0.5), sign > 0 ? toMm(y + at(x, y)) : toMm(y + 1 - at(x, y))]);
    }
    return points;
  };
  const wallLine = fitLine(wall); // u = a + b·v
  const corner = (plate: Point[]): Point => {
    const [c, e] = fitLine(plate); // v = c + e·u
    const u = (wallLine[0] + wallLine[1] * c) / (1 - wallLine[1] * e);
    return transformPoint(u, c + e * u, placed);
  };
  const [x0, y0] = transformPoint(wallLine[0], 0, placed);
  const [x1, y1] = transformPoint(wallLine[0] + wallLine[1], 1, placed);
  return { posteriorSuperior: corner(endplate(-1)), posteriorInferior: corner(endplate(1)), wall: [x1 - x0, y1 - y0] };
}

/** Least squares y = a + b·x through [x, y] points. */
function fitLine(points: readonly Point[]): [number, number] {
  const n = points.length;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / n;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const sxy = points.reduce((sum, [x, y]) => sum + (x - mx) * (y - my), 0);
  const sxx = points.reduce((sum, [x]) => sum + (x - mx) ** 2, 0);
  return [my - (sxy / sxx) * mx, sxy / sxx];
}

function invert(m: Affine): Affine {
  const det = m.a * m.d - m.b * m.c;
  return { a: m.d / det, b: -m.b / det, c: -m.c / det, d: m.a / det, e: (m.c * m.f - m.d * m.e) / det, f: (m.b * m.e - m.a * m.f) / det };
}

/** Translation (mm) and relative angulation (°) at interspace `level`, read off the drawn bodies. */
function drawnAlignment(params: PhantomParams, level: number): { translationMm: number; angulationDeg: number } {
  const { anatomy, lesion } = params;
  const bodies = buildScene(anatomy, lesion).bodies;
  const motion = levelMotion(anatomy, lesion);
  const drawn = new Map(
    anatomy.vertebrae.map((v) => [v.level, drawnBody(bodies.get(v.level)!, compose(motion(v.level) ?? IDENTITY, frameOf(v)), v.depth, v.height)]),
  );
  const upper = drawn.get(level)!;
  const lower = drawn.get(level + 1)!;
  // Along the lower body's superior endplate, as the measure reads it: square to its wall.
  const [wx, wy] = lower.wall;
  const along: Point = [wy / Math.hypot(wx, wy), -wx / Math.hypot(wx, wy)];
  const step: Point = [upper.posteriorInferior[0] - lower.posteriorSuperior[0], upper.posteriorInferior[1] - lower.posteriorSuperior[1]];
  const kyphosis = (at: number): number | undefined => {
    const a = drawn.get(at)?.wall;
    const b = drawn.get(at + 1)?.wall;
    return a && b && at >= 2 ? ((Math.atan2(b[1], b[0]) - Math.atan2(a[1], a[0])) * 180) / Math.PI : undefined;
  };
  const neighbours = [kyphosis(level - 1), kyphosis(level + 1)].filter((k) => k !== undefined);
  return { translationMm: -(step[0] * along[0] + step[1] * along[1]), angulationDeg: kyphosis(level)! - neighbours.reduce((a, b) => a + b, 0) / neighbours.length };
}

test('a drawn slip and angulation measure what labels.csv records', async (t) => {
  const rows = (await labels(t, 45, 12, 'clinical')).filter((row) => row.kind === 'translation');
  t.true(rows.length >= 12);
  for (const row of rows) {
    const params = phantomParams(Number(row.group), 'dislocation', 256, 320, 'clinical');
    const drawn = drawnAlignment(params, Number(row.vertebra!.slice(1)));
    t.true(Math.abs(drawn.translationMm - Number(row.translation_mm)) < 0.06, `${row.file}: drawn ${drawn.translationMm.toFixed(3)} mm, recorded ${row.translation_mm} mm`);
    t.true(Math.abs(drawn.angulationDeg - Number(row.angulation_deg)) < 0.15, `${row.file}: drawn ${drawn.angulationDeg.toFixed(2)}°, recorded ${row.angulation_deg}°`);
  }
});
