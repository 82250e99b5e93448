import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { generatePhantoms } from '../../../src/tools/synth/generate.js';
import { CATEGORY_SPECS, generateOodSets, OOD_CATEGORIES, OOD_CSV_HEADER, phantomRunSeed, type OodCategory, type OodSetOptions } from '../../../src/tools/synth/ood/generate.js';
import { invert, rotateQuarter } from '../../../src/tools/synth/ood/orientation.js';

// Small frames keep the whole file fast; blank still writes its large frames.
const W = 96;
const H = 120;
const COUNT = 3;

type Row = { file: string; category: string; group: string; label: string; source: string };

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-ood-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function readCsv(dir: string): Row[] {
  const [header, ...lines] = fs.readFileSync(path.join(dir, 'ood.csv'), 'utf8').trimEnd().split('\n');
  if (header !== OOD_CSV_HEADER) throw new Error(`header ${header}`);
  return lines.map((line) => {
    const cells = line.split(',');
    if (cells.length !== 5) throw new Error(`row ${line}`);
    const [file, category, group, label, source] = cells as [string, string, string, string, string];
    return { file, category, group, label, source };
  });
}

/** Sets shared by several tests (made once per seed, removed when the file is done). */
const made = new Map<number, Promise<{ dir: string; rows: Row[] }>>();
const shared: string[] = [];
test.after.always(() => {
  for (const dir of shared) fs.rmSync(dir, { recursive: true, force: true });
});
function sharedSet(seed: number): Promise<{ dir: string; rows: Row[] }> {
  let set = made.get(seed);
  if (set === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-ood-shared-'));
    shared.push(dir);
    set = generateOodSets({ outDir: dir, seed, count: COUNT, width: W, height: H }).then(() => ({ dir, rows: readCsv(dir) }));
    made.set(seed, set);
  }
  return set;
}

async function grey(file: string): Promise<{ width: number; height: number; data: Buffer }> {
  const meta = await sharp(file).metadata();
  if (meta.channels !== 1) throw new Error(`${file}: ${meta.channels} channels`);
  // Without a colourspace sharp's raw output would be sRGB, three channels.
  const { data, info } = await sharp(file).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

function rowOf(rows: Row[], category: OodCategory, index: number): Row {
  const row = rows.find((r) => r.category === category && r.file.startsWith(`${category}/${String(index).padStart(6, '0')}-`));
  if (row === undefined) throw new Error(`no ${category} ${index}`);
  return row;
}

test('every category gets count images and ood.csv lists exactly the files written', async (t) => {
  const progress: number[] = [];
  const dir = tempDir(t);
  const result = await generateOodSets({ outDir: dir, seed: 5, count: COUNT, width: W, height: H, onProgress: (done) => progress.push(done) });
  t.is(result.files, COUNT * OOD_CATEGORIES.length);
  t.is(result.phantomSeed, 900_005);
  t.is(progress.length, result.files);
  const rows = readCsv(dir);
  t.is(rows.length, COUNT * OOD_CATEGORIES.length);
  t.deepEqual([...new Set(rows.map((r) => r.category))], [...OOD_CATEGORIES]);

  const listed = new Set(rows.map((r) => r.file));
  const onDisk = fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name !== 'ood.csv');
  t.deepEqual(onDisk.map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/')).sort(), [...listed].sort());

  for (const category of OOD_CATEGORIES) {
    const mine = rows.filter((r) => r.category === category);
    t.is(mine.length, COUNT, category);
    const spec = CATEGORY_SPECS[category];
    for (const row of mine) {
      t.is(row.group, spec.group, row.file);
      t.true(row.file.startsWith(`${category}/`), row.file);
      t.regex(row.file, category === 'shift-jpeg' ? /\.jpg$/ : /\.png$/);
      t.true(row.source.length > 0, row.file);
      const meta = await sharp(path.join(dir, row.file)).metadata();
      t.is(meta.format, category === 'shift-jpeg' ? 'jpeg' : 'png', row.file);
    }
    // Phantom-derived images carry their true class, all three of them over three cases.
    if (spec.group !== 'far-ood') t.deepEqual(mine.map((r) => r.label), ['normal', 'fracture', 'dislocation'], category);
    else if (category !== 'saturated') t.true(mine.every((r) => r.label === ''), category);
  }
  // The overexposed phantoms in saturated keep their label; the flat frames have none.
  for (const row of rows.filter((r) => r.category === 'saturated')) t.is(row.label === '', !row.file.includes('overexposed'), row.file);
});

test('the same seed gives the same bytes; another seed gives none of the same images', async (t) => {
  const first = await sharedSet(11);
  const again = tempDir(t);
  await generateOodSets({ outDir: again, seed: 11, count: COUNT, width: W, height: H });
  t.true(fs.readFileSync(path.join(first.dir, 'ood.csv')).equals(fs.readFileSync(path.join(again, 'ood.csv'))));
  for (const row of first.rows) t.true(fs.readFileSync(path.join(first.dir, row.file)).equals(fs.readFileSync(path.join(again, row.file))), row.file);

  // Same encoder, same settings: equal pixels would mean equal files, so file hashes compare content.
  const other = await sharedSet(12);
  const hash = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const seen = new Map(first.rows.map((r) => [hash(path.join(first.dir, r.file)), r.file]));
  for (const row of other.rows) t.false(seen.has(hash(path.join(other.dir, row.file))), `${row.file} (seed 12) = ${seen.get(hash(path.join(other.dir, row.file)))} (seed 11)`);
});

test('phantoms are case i of `synth --seed 900000+S`, and near-ood images are those phantoms transformed', async (t) => {
  const { dir, rows } = await sharedSet(11);
  const synthDir = tempDir(t);
  await generatePhantoms({ outDir: synthDir, count: COUNT, seed: phantomRunSeed(11), width: W, height: H });
  for (let i = 0; i < COUNT; i++) {
    const fresh = await grey(path.join(dir, rowOf(rows, 'fresh', i).file));
    const label = rowOf(rows, 'fresh', i).label;
    const synth = await grey(path.join(synthDir, label, `phantom-${String(i).padStart(6, '0')}.png`));
    t.true(fresh.data.equals(synth.data), `fresh ${i}`);
    t.is(rowOf(rows, 'fresh', i).source, `synth seed=900011 case=${i}; unchanged`);

    const inverted = await grey(path.join(dir, rowOf(rows, 'inverted', i).file));
    let sumsToMax = true;
    for (let p = 0; p < fresh.data.length; p++) if (fresh.data[p]! + inverted.data[p]! !== 255) sumsToMax = false;
    t.true(sumsToMax, `inverted ${i}`);
    t.deepEqual(Buffer.from(invert(fresh.data)), inverted.data);

    for (const [category, turns] of [['rotated90', 1], ['rotated180', 2], ['rotated270', 3]] as const) {
      const turned = await grey(path.join(dir, rowOf(rows, category, i).file));
      const expected = rotateQuarter(fresh.data, fresh.width, fresh.height, turns);
      t.deepEqual([turned.width, turned.height], [expected.width, expected.height], `${category} ${i}`);
      t.true(turned.data.equals(expected.samples), `${category} ${i}`);
    }
    // 180° by hand, independent of rotateQuarter: pixel (x, y) lands on (w−1−x, h−1−y).
    const half = await grey(path.join(dir, rowOf(rows, 'rotated180', i).file));
    t.is(half.data[0], fresh.data[fresh.data.length - 1]);
    t.is(half.data[W * 10 + 3], fresh.data[(H - 1 - 10) * W + (W - 1 - 3)]);

    const mirrored = await grey(path.join(dir, rowOf(rows, 'shift-mirror', i).file));
    t.is(mirrored.data[5 * W + 2], fresh.data[5 * W + (W - 3)]);
  }
});

test('in-distribution shifts change the phantom, but only moderately', async (t) => {
  const { dir, rows } = await sharedSet(11);
  for (let i = 0; i < COUNT; i++) {
    const fresh = await grey(path.join(dir, rowOf(rows, 'fresh', i).file));
    for (const category of ['shift-blur', 'shift-noise', 'shift-gamma', 'shift-jpeg', 'shift-rotate', 'shift-collimation'] as const) {
      const shifted = await grey(path.join(dir, rowOf(rows, category, i).file));
      t.deepEqual([shifted.width, shifted.height], [W, H], `${category} ${i}`);
      let diff = 0;
      for (let p = 0; p < fresh.data.length; p++) diff += Math.abs(fresh.data[p]! - shifted.data[p]!);
      const mean = diff / fresh.data.length;
      t.true(mean > 0.3 && mean < 40, `${category} ${i}: mean |difference| ${mean.toFixed(2)}`);
    }
    const lowres = await grey(path.join(dir, rowOf(rows, 'shift-lowres', i).file));
    t.true((lowres.width === W && lowres.height === H) || (lowres.width <= W / 2 && lowres.width >= W / 3 - 1), `lowres ${lowres.width}x${lowres.height}`);
  }
});

test('anatomy images are grayscale radiographs with structure, not blank frames', async (t) => {
  const dir = tempDir(t);
  await generateOodSets({ outDir: dir, seed: 3, count: 6, categories: ['anatomy'], width: 160, height: 200 });
  const rows = readCsv(dir);
  t.deepEqual(rows.map((r) => r.file.replace(/^anatomy\/\d+-/, '')), ['hand-pa.png', 'chest-pa.png', 'knee-ap.png', 'hand-pa.png', 'chest-pa.png', 'knee-ap.png']);
  for (const row of rows) {
    const image = sharp(path.join(dir, row.file));
    const meta = await image.metadata();
    t.is(meta.channels, 1, row.file);
    t.deepEqual([meta.width, meta.height], [160, 200]);
    const { channels } = await image.stats();
    const { mean, stdev, min, max } = channels[0]!;
    t.true(stdev > 25, `${row.file}: std dev ${stdev.toFixed(1)}`);
    t.true(mean > 15 && mean < 200, `${row.file}: mean ${mean.toFixed(1)}`);
    t.true(min < 40 && max > 200, `${row.file}: range ${min}–${max}`);
    t.is(row.group, 'far-ood');
    t.is(row.label, '');
  }
});

test('a subset of categories, in catalogue order; bad options are refused before anything is written', async (t) => {
  const dir = tempDir(t);
  const result = await generateOodSets({ outDir: dir, seed: 1, count: 2, categories: ['noise', 'blank'], width: W, height: H });
  t.deepEqual(Object.keys(result.perCategory), ['blank', 'noise']);
  t.deepEqual(fs.readdirSync(dir).sort(), ['blank', 'noise', 'ood.csv']);

  const base: OodSetOptions = { outDir: path.join(dir, 'bad'), seed: 1, count: 1 };
  const bad: Partial<OodSetOptions>[] = [{ count: -1 }, { count: 0.5 }, { seed: -1 }, { seed: 1.5 }, { width: 32 }, { height: 5000 }, { categories: [] }, { categories: ['faces'] }, { categories: ['noise', 'noise'] }];
  for (const override of bad) await t.throwsAsync(generateOodSets({ ...base, ...override }), { instanceOf: RangeError }, JSON.stringify(override));
  t.false(fs.existsSync(path.join(dir, 'bad')));
});

test('the phantom run seed keeps clear of the training and held-out seeds', (t) => {
  t.is(phantomRunSeed(0), 900_000);
  t.is(phantomRunSeed(7), 900_007);
  for (const seed of [0, 1, 2, 3, 100, 114, 2 ** 40]) {
    const run = phantomRunSeed(seed);
    t.true(run >= 900_000 && !(run >= 1 && run <= 3) && !(run >= 101 && run <= 114));
  }
});
