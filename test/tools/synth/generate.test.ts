import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { generatePhantoms, LABELS_HEADER, phantomParams, renderPhantom, type PhantomLabel, type SynthOptions } from '../../../src/tools/synth/generate.js';
import { decodeImage } from '../../../src/imaging/decode.js';
import { caseSeed, Rng } from '../../../src/tools/synth/prng.js';
import { quantise } from '../../../src/tools/synth/quantise.js';

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-synth-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function generate(t: ExecutionContext, options: Omit<SynthOptions, 'outDir'>): Promise<{ dir: string; rows: Record<string, string>[] }> {
  const dir = tempDir(t);
  const result = await generatePhantoms({ outDir: dir, ...options });
  t.is(result.files, options.count);
  t.is(result.labelsCsv, path.join(dir, 'labels.csv'));
  const [header, ...lines] = fs.readFileSync(result.labelsCsv, 'utf8').trimEnd().split('\n');
  t.is(header, LABELS_HEADER);
  const columns = LABELS_HEADER.split(',');
  const rows = lines.map((line) => {
    const cells = line.split(',');
    t.is(cells.length, columns.length, line);
    return Object.fromEntries(columns.map((name, i) => [name, cells[i]!]));
  });
  return { dir, rows };
}

/** Every file under dir (relative path → bytes), labels.csv included. */
function snapshot(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files.set(path.relative(dir, full), fs.readFileSync(full));
  }
  return files;
}

test('the same seed gives byte-identical files; another seed gives other pictures', async (t) => {
  const first = snapshot((await generate(t, { count: 6, seed: 42 })).dir);
  const second = snapshot((await generate(t, { count: 6, seed: 42 })).dir);
  t.is(first.size, 7);
  t.deepEqual([...first.keys()].sort(), [...second.keys()].sort());
  for (const [name, bytes] of first) t.true(bytes.equals(second.get(name)!), name);

  const other = snapshot((await generate(t, { count: 6, seed: 43 })).dir);
  for (const [name, bytes] of first) {
    if (name.endsWith('.png')) t.false(bytes.equals(other.get(name)!), name);
  }
});

test('case i does not depend on how many cases the run has', async (t) => {
  const short = await generate(t, { count: 3, seed: 7 });
  const long = await generate(t, { count: 8, seed: 7 });
  t.deepEqual(long.rows.slice(0, 3), short.rows);
  for (const row of short.rows) {
    t.true(fs.readFileSync(path.join(short.dir, row.file!)).equals(fs.readFileSync(path.join(long.dir, row.file!))), row.file);
  }
});

test('labels.csv lists every file, balanced over the classes, with a box only for injuries', async (t) => {
  const progress: [number, number][] = [];
  const { dir, rows } = await generate(t, { count: 12, seed: 3, onProgress: (done, total) => progress.push([done, total]) });
  t.is(rows.length, 12);
  t.deepEqual(progress.at(-1), [12, 12]);
  t.is(progress.length, 12);
  const perClass = { normal: 0, fracture: 0, dislocation: 0 };
  const kinds: Record<PhantomLabel, string[]> = { normal: ['none'], fracture: ['cortical-break', 'wedge', 'avulsion'], dislocation: ['translation'] };
  const groups = new Set<string>();
  for (const row of rows) {
    const label = row.label as PhantomLabel;
    perClass[label]++;
    t.true(row.file!.startsWith(`${label}/`) && row.file!.endsWith('.png'), row.file);
    t.true(fs.existsSync(path.join(dir, row.file!)), row.file);
    t.true(kinds[label].includes(row.kind!), `${label} ${row.kind}`);
    t.is(row.seed, '3');
    t.regex(row.group!, /^\d+$/);
    groups.add(row.group!);
    const box = [row.box_x, row.box_y, row.box_w, row.box_h];
    if (label === 'normal') {
      t.deepEqual([row.vertebra, row.severity, ...box], ['', '', '', '', '', '']);
    } else {
      t.regex(row.vertebra!, /^C[3-7]$/);
      const severity = Number(row.severity);
      t.true(severity >= 0 && severity <= 1, row.severity);
      for (const cell of box) t.regex(cell!, /^\d+$/);
    }
  }
  t.deepEqual(perClass, { normal: 4, fracture: 4, dislocation: 4 });
  t.is(groups.size, 12);
  t.deepEqual(fs.readdirSync(dir).sort(), ['dislocation', 'fracture', 'labels.csv', 'normal']);
});

test('classes and size options are honoured', async (t) => {
  const { dir, rows } = await generate(t, { count: 3, seed: 1, classes: ['fracture'], width: 200, height: 240 });
  t.deepEqual(
    rows.map((r) => r.label),
    ['fracture', 'fracture', 'fracture'],
  );
  const meta = await sharp(path.join(dir, rows[0]!.file!)).metadata();
  t.is(meta.width, 200);
  t.is(meta.height, 240);
});

test('8-bit output is one 8-bit gray channel; 16-bit output really is 16-bit', async (t) => {
  for (const bits of [8, 16] as const) {
    const { dir, rows } = await generate(t, { count: 2, seed: 5, bits });
    for (const row of rows) {
      const file = path.join(dir, row.file!);
      const meta = await sharp(file).metadata();
      t.is(meta.format, 'png');
      t.is(meta.channels, 1);
      t.is(meta.depth, bits === 8 ? 'uchar' : 'ushort');
      t.is(meta.width, 256);
      t.is(meta.height, 320);
    }
    // The runtime's own decoder reads back exactly the samples that were rendered.
    const first = rows[0]!;
    const decoded = await decodeImage(fs.readFileSync(path.join(dir, first.file!)), { maxPixels: 1_000_000 });
    t.is(decoded.bitsPerSample, bits);
    const expected = quantise(renderPhantom(phantomParams(Number(first.group), first.label as PhantomLabel, 256, 320)).pixels, bits);
    t.deepEqual(decoded.pixels, expected);
    if (bits === 16) t.true(new Set(decoded.pixels).size > 1000, 'uses far more than 256 levels');
  }
});

test('bad options are refused before anything is written', async (t) => {
  const dir = tempDir(t);
  const bad: Partial<SynthOptions>[] = [{ count: -1 }, { count: 1.5 }, { seed: -3 }, { seed: 0.5 }, { width: 10 }, { height: 99999 }, { bits: 12 as 8 }, { classes: [] }, { classes: ['broken' as PhantomLabel] }, { variation: 'subtle' as 'clinical' }];
  for (const override of bad) {
    await t.throwsAsync(generatePhantoms({ outDir: path.join(dir, 'out'), count: 1, seed: 1, ...override }), { instanceOf: RangeError }, JSON.stringify(override));
  }
  t.false(fs.existsSync(path.join(dir, 'out')));
});

test('a failed write rejects the run and leaves no labels.csv, not even an old one', async (t) => {
  const dir = tempDir(t);
  // A directory where the fifth image should go makes that write fail.
  fs.mkdirSync(path.join(dir, 'fracture', 'phantom-000004.png'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'labels.csv'), 'left over from an earlier run\n');
  await t.throwsAsync(generatePhantoms({ outDir: dir, count: 9, seed: 1 }));
  t.false(fs.existsSync(path.join(dir, 'labels.csv')));
});

test('the box of every injured case lies inside the image', (t) => {
  for (let i = 0; i < 60; i++) {
    for (const label of ['fracture', 'dislocation'] as const) {
      const phantom = renderPhantom(phantomParams(caseSeed(11, i), label, 256, 320));
      const box = phantom.box;
      if (box === undefined) {
        t.fail(`case ${i} ${label}: no box`);
        continue;
      }
      t.true(box.x >= 0 && box.y >= 0 && box.x + box.w <= 256 && box.y + box.h <= 320, JSON.stringify(box));
      // A cervical body at this scale is some 20–40 px across.
      t.true(box.w >= 12 && box.w <= 80 && box.h >= 12 && box.h <= 80, JSON.stringify(box));
    }
  }
  t.is(renderPhantom(phantomParams(caseSeed(11, 0), 'normal', 256, 320)).box, undefined);
});

function meanAbsDiff(a: Float32Array, b: Float32Array, width: number, inside: (x: number, y: number) => boolean): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (!inside(i % width, Math.floor(i / width))) continue;
    sum += Math.abs(a[i]! - b[i]!);
    n++;
  }
  return n === 0 ? 0 : sum / n;
}

test('a dislocation changes its box, not the film below the injury', (t) => {
  for (let i = 0; i < 6; i++) {
    const seed = caseSeed(21, i);
    const normal = renderPhantom(phantomParams(seed, 'normal', 256, 320));
    const injured = renderPhantom(phantomParams(seed, 'dislocation', 256, 320));
    const box = injured.box!;
    const inBox = meanAbsDiff(normal.pixels, injured.pixels, 256, (x, y) => x >= box.x && x < box.x + box.w && y >= box.y && y < box.y + box.h);
    const bottom = meanAbsDiff(normal.pixels, injured.pixels, 256, (_x, y) => y >= 300);
    t.true(inBox > 0.04, `case ${i}: mean difference in the box ${inBox.toFixed(4)}`);
    t.true(bottom < 0.002, `case ${i}: mean difference in the bottom rows ${bottom.toFixed(4)}`);
  }
});

test('a fracture changes its box and nothing beyond the fragment shift and blur around it', (t) => {
  for (let i = 0; i < 9; i++) {
    const seed = caseSeed(22, i);
    const normal = renderPhantom(phantomParams(seed, 'normal', 256, 320));
    const injured = renderPhantom(phantomParams(seed, 'fracture', 256, 320));
    const box = injured.box!;
    // Fragments move up to ~7 px away from where the intact body was; blur adds up to 4.
    const margin = 12;
    const inBox = meanAbsDiff(normal.pixels, injured.pixels, 256, (x, y) => x >= box.x && x < box.x + box.w && y >= box.y && y < box.y + box.h);
    const outside = meanAbsDiff(normal.pixels, injured.pixels, 256, (x, y) => x < box.x - margin || x >= box.x + box.w + margin || y < box.y - margin || y >= box.y + box.h + margin);
    t.true(inBox > 0.01, `case ${i}: mean difference in the box ${inBox.toFixed(4)}`);
    t.is(outside, 0, `case ${i}`);
  }
});

test('the PRNG is repeatable and case seeds do not collide for neighbouring cases', (t) => {
  const a = new Rng(123);
  const b = new Rng(123);
  const draws = Array.from({ length: 5 }, () => a.next());
  t.deepEqual(
    Array.from({ length: 5 }, () => b.next()),
    draws,
  );
  const rng = new Rng(9);
  let sum = 0;
  for (let i = 0; i < 10_000; i++) sum += rng.next();
  t.true(Math.abs(sum / 10_000 - 0.5) < 0.02);
  const seeds = new Set(Array.from({ length: 1000 }, (_, i) => caseSeed(1, i)));
  t.is(seeds.size, 1000);
  t.not(caseSeed(1, 0), caseSeed(2, 0));
  t.not(caseSeed(1, 0), caseSeed(1 + 2 ** 32, 0));
});
