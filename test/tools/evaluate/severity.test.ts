import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { toCspineError } from '../../../src/errors.js';
import { openClassifier } from '../../../src/pipeline/open-classifier.js';
import { evaluate, readDataset, writeReport } from '../../../src/tools/evaluate/evaluate.js';
import { SEVERITY_EDGES, severityReport, type Lamp, type SeverityOutcome } from '../../../src/tools/evaluate/severity.js';
import { generatePhantoms } from '../../../src/tools/synth/generate.js';
import { SHIPPED_MODEL, workspace } from '../../helpers/fixtures.js';

test('bins, the 95% points and the checks, from hand-made outcomes', (t) => {
  const outcomes: SeverityOutcome[] = [
    // translation: 1–1.1× half RED, 1.25–1.5× all RED, ≥ 2.5× all RED
    { kind: 'translation', ratio: 1.02, lamp: 'RED' },
    { kind: 'translation', ratio: 1.05, lamp: 'GREEN' },
    { kind: 'translation', ratio: 1.3, lamp: 'RED' },
    { kind: 'translation', ratio: 1.4, lamp: 'RED' },
    { kind: 'translation', ratio: 2.7, lamp: 'RED' },
    // wedge: caught but not RED near the line
    { kind: 'wedge', ratio: 1.15, lamp: 'AMBER' },
    { kind: 'wedge', ratio: 1.6, lamp: 'rejected' },
    { kind: 'wedge', ratio: 2.1, lamp: 'RED' },
    // normals: one RED near the line
    { kind: 'none', ratio: 0.2, lamp: 'GREEN' },
    { kind: 'none', ratio: 0.8, lamp: 'AMBER' },
    { kind: 'none', ratio: 0.85, lamp: 'RED' },
    { kind: 'none', ratio: 0.3, lamp: 'GREEN' },
  ];
  const report = severityReport(outcomes)!;
  t.deepEqual(
    report.injuries.map((c) => [c.kind, c.n]),
    [
      ['all', 8],
      ['translation', 5],
      ['wedge', 3],
    ],
  );
  const translation = report.injuries[1]!;
  t.is(translation.bins.length, SEVERITY_EDGES.length);
  t.deepEqual(translation.bins.find((b) => b.from === 1), { from: 1, to: 1.1, n: 2, GREEN: 1, AMBER: 0, RED: 1, rejected: 0 });
  t.deepEqual(translation.bins.at(-1), { from: 2.5, to: null, n: 1, GREEN: 0, AMBER: 0, RED: 1, rejected: 0 });
  t.deepEqual(translation.fromCriterion, { n: 5, GREEN: 1, AMBER: 0, RED: 4, rejected: 0 });
  t.deepEqual(translation.from125, { n: 3, GREEN: 0, AMBER: 0, RED: 3, rejected: 0 });
  // Every non-empty bin from 1.25× up is all RED; the 1–1.1× bin is not.
  t.deepEqual(translation.reaches95At, { red: 1.25, notGreen: 1.25 });
  const wedge = report.injuries[2]!;
  t.deepEqual(wedge.reaches95At, { red: 2, notGreen: 1.1 });
  t.deepEqual(report.normals!.all, { n: 4, GREEN: 2, AMBER: 1, RED: 1, rejected: 0 });
  t.deepEqual(
    report.normals!.bins.filter((b) => b.n > 0).map((b) => [b.from, b.n]),
    [
      [0, 2],
      [0.75, 2],
    ],
  );
  t.deepEqual(
    report.checks.map((c) => [c.status, c.measured]),
    [
      ['fail', '80.0% (4 of 5)'],
      ['fail', '62.5% (5 of 8)'],
      ['fail', '12.5% (1 of 8)'],
      ['fail', '75.0% (3 of 4); AMBER 25.0% (1 of 4)'],
    ],
  );
  t.is(severityReport([]), null);
});

test('the shipped model on clinical phantoms: the severity report matches a hand count of the lamps', async (t) => {
  const { root, config } = workspace(t, { model: SHIPPED_MODEL, quality: { enabled: true } });
  const data = path.join(root, 'clinical');
  await generatePhantoms({ outDir: data, count: 36, seed: 31, variation: 'clinical' });
  const classifier = await openClassifier(config);
  const lamps = new Map<string, Lamp>();
  let run;
  try {
    run = await evaluate(classifier, data);
    // The per-image results, one by one through the same classifier.
    for (const image of readDataset(data, ['normal', 'fracture', 'dislocation'])) {
      try {
        const result = await classifier.classify(fs.readFileSync(image.file));
        lamps.set(image.file, result.triage.level as Lamp);
      } catch (error) {
        t.truthy(toCspineError(error).code);
        lamps.set(image.file, 'rejected');
      }
    }
  } finally {
    await classifier.engine.close();
  }
  const severity = run.report.severity!;
  t.truthy(severity, 'labels.csv has criterion_ratio, so the report has a severity section');

  const images = readDataset(data, ['normal', 'fracture', 'dislocation']);
  t.is(images.length, 36);
  t.true(images.every((image) => image.severity !== undefined));
  const handCount = (keep: (kind: string, ratio: number) => boolean) => {
    const counts = { n: 0, GREEN: 0, AMBER: 0, RED: 0, rejected: 0 };
    for (const image of images) {
      if (!keep(image.severity!.kind, image.severity!.ratio)) continue;
      counts.n++;
      counts[lamps.get(image.file)!]++;
    }
    return counts;
  };
  const injured = (kind: string) => kind !== 'none';
  const all = severity.injuries.find((c) => c.kind === 'all')!;
  t.is(all.n, 24);
  t.deepEqual(all.fromCriterion, handCount((kind, ratio) => injured(kind) && ratio >= 1));
  t.deepEqual(all.from125, handCount((kind, ratio) => injured(kind) && ratio >= 1.25));
  for (const curve of severity.injuries) {
    for (const bin of curve.bins) {
      const { from, to, ...counts } = bin;
      t.deepEqual(counts, handCount((kind, ratio) => (curve.kind === 'all' ? injured(kind) : kind === curve.kind) && ratio >= from && (to === null || ratio < to)), `${curve.kind} ${from}`);
    }
  }
  t.deepEqual(severity.normals!.all, handCount((kind) => kind === 'none'));
  t.true(severity.normals!.bins.every((b) => b.from < 1 || b.n === 0), 'clinical normals stay under the line');
  t.deepEqual(
    severity.checks.map((c) => c.status === 'n/a'),
    [false, false, false, false],
  );
  // RED from the criterion up, as the check states it.
  const redFrom1 = handCount((kind, ratio) => injured(kind) && ratio >= 1);
  t.is(severity.checks[1]!.measured, `${((redFrom1.RED / redFrom1.n) * 100).toFixed(1)}% (${redFrom1.RED} of ${redFrom1.n})`);

  const out = path.join(root, 'report');
  const files = await writeReport(run.report, run.samples, out, ['normal', 'fracture', 'dislocation']);
  t.true(files.includes(path.join(out, 'severity.png')));
  const meta = await sharp(path.join(out, 'severity.png')).metadata();
  t.is(meta.format, 'png');
  const markdown = fs.readFileSync(path.join(out, 'evaluation.md'), 'utf8');
  t.regex(markdown, /## Sensitivity against severity/);
  t.regex(markdown, /\| all \| each injury against its own criterion \| 24 \|/);
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'evaluation.json'), 'utf8')).severity, JSON.parse(JSON.stringify(severity)));
});
