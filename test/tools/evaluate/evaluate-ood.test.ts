import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import {
  evaluateOod,
  fprAtTpr,
  oodAuroc,
  readOodSet,
  safetyChecks,
  summariseCategories,
  writeOodReport,
  type OodEvaluationReport,
  type OodImageResult,
} from '../../../src/tools/evaluate/evaluate-ood.js';
import { ErrorCode, ImageRejectedError } from '../../../src/errors.js';
import type { OodVerdict } from '../../../src/model/ood-verdict.js';
import type { Classifier } from '../../../src/pipeline/classifier.js';
import { openClassifier } from '../../../src/pipeline/open-classifier.js';
import { generateOodSets } from '../../../src/tools/synth/ood/generate.js';
import { runCli } from '../../helpers/cli.js';
import { configEnv, SHIPPED_MODEL, tempDir, workspace } from '../../helpers/fixtures.js';

test('AUROC and FPR at 95% TPR of an OOD score, in-distribution positive, on a hand-made example', (t) => {
  // in < out for 3 + 3 + 3 + 2 of the 12 pairs
  t.is(oodAuroc([0.1, 0.2, 0.3, 0.4], [0.35, 0.5, 0.6]), 11 / 12);
  // a tie counts half: 2 + 0.5 + 1 of 4
  t.is(oodAuroc([0.1, 0.5], [0.5, 0.9]), 3.5 / 4);
  t.is(oodAuroc([0.1, 0.2], [0.3, 0.4]), 1, 'perfectly separated');
  t.is(oodAuroc([0.3, 0.4], [0.1, 0.2]), 0, 'exactly backwards');
  t.true(Number.isNaN(oodAuroc([0.1], [])));

  const inScores = Array.from({ length: 20 }, (_, i) => (i + 1) / 100); // 0.01 … 0.20
  // 19 of 20 in-distribution scores (95%) are at or below 0.19; two of the four OOD scores too
  t.deepEqual(fprAtTpr(inScores, [0.05, 0.19, 0.195, 0.5]), { threshold: 0.19, fpr: 0.5 });
  t.deepEqual(fprAtTpr(inScores, [0.3, 0.4]), { threshold: 0.19, fpr: 0 });
  // 57 of 60 (95%) at or below the 57th score
  const sixty = Array.from({ length: 60 }, (_, i) => i);
  t.deepEqual(fprAtTpr(sixty, [55.5, 56.5]), { threshold: 56, fpr: 0.5 });
  t.true(Number.isNaN(fprAtTpr([], [1]).fpr));
});

test('category counts, flagged, injured GREEN and the must-hold checks from hand-made results', (t) => {
  const row = (category: string, group: OodImageResult['group'], label: string | null, outcome: OodImageResult['outcome'], extra: Partial<OodImageResult> = {}): OodImageResult => ({
    set: 0,
    file: `${category}/x.png`,
    category,
    group,
    label,
    outcome,
    ...(outcome === 'rejected' ? { code: 'E_QUALITY_BLANK' } : { predicted: extra.predicted ?? 'normal', baseline: 0.1 }),
    ...extra,
  });
  const results = [
    row('fresh', 'in-distribution', 'normal', 'GREEN', { ood: { score: 0.2, inDistribution: true } }),
    row('fresh', 'in-distribution', 'fracture', 'RED', { predicted: 'fracture', ood: { score: 0.3, inDistribution: true } }),
    row('blank', 'far-ood', null, 'rejected'),
    row('blank', 'far-ood', null, 'GREEN', { ood: { score: 0.9, inDistribution: true } }),
    row('inverted', 'near-ood', 'dislocation', 'GREEN', { ood: { score: 2, inDistribution: false } }),
  ];
  const categories = summariseCategories(results);
  t.deepEqual(
    categories.map((c) => c.category),
    ['blank', 'inverted', 'fresh'],
    'far-ood, near-ood, in-distribution',
  );
  const blank = categories[0]!;
  t.like(blank, { n: 2, GREEN: 1, rejected: 1, flagged: 1, flaggedRate: 0.5, amberOrRejectedShare: 0.5, accuracy: null, injuredGreen: null, rejectedByCode: { E_QUALITY_BLANK: 1 } });
  t.like(categories[1]!, { injuredGreen: 1, flagged: 1, accuracy: 0 });
  t.like(categories[2]!, { accuracy: 1, injuredGreen: 0, flagged: 0 });

  const groups = {
    'far-ood': { n: 2, GREEN: 1, AMBER: 0, RED: 0, rejected: 1, flagged: 1, flaggedRate: 0.5, accuracy: null, injuredGreen: 0 },
    'near-ood': { n: 1, GREEN: 1, AMBER: 0, RED: 0, rejected: 0, flagged: 1, flaggedRate: 1, accuracy: 0, injuredGreen: 1 },
    'in-distribution': { n: 2, GREEN: 1, AMBER: 0, RED: 1, rejected: 0, flagged: 0, flaggedRate: 0, accuracy: 1, injuredGreen: 0 },
  };
  const detection: OodEvaluationReport['detection'] = { excludedRejected: 1, score: null, baseline: { farOod: null, nearOod: null } };
  const checks = Object.fromEntries(safetyChecks(categories, groups, detection, false).map((c) => [c.id, c.status]));
  t.deepEqual(checks, {
    'far-ood/blank': 'fail',
    'near-ood/inverted': 'fail',
    'in-distribution/flagged': 'pass',
    'in-distribution/injured-green': 'pass',
    'detector/far-ood-fpr': 'fail',
  });
});

test('a guarded pipeline: the detector is judged on the image as received, the baseline too; rejected images are left out of it', async (t) => {
  const dir = tempDir(t);
  const rows = ['file,category,group,label,source'];
  const names: Array<[string, string, string, string]> = [
    ['fresh/0.png', 'fresh', 'in-distribution', 'normal'],
    ['fresh/1.png', 'fresh', 'in-distribution', 'fracture'],
    ['blank/0.png', 'blank', 'far-ood', ''],
    ['noise/0.png', 'noise', 'far-ood', ''],
    ['rotated90/0.png', 'rotated90', 'near-ood', 'fracture'],
  ];
  for (const [file, category, group, label] of names) {
    fs.mkdirSync(path.join(dir, category), { recursive: true });
    fs.writeFileSync(path.join(dir, file), await sharp(Buffer.alloc(32 * 32, 100), { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer());
    rows.push(`${file},${category},${group},${label},test`);
  }
  fs.writeFileSync(path.join(dir, 'ood.csv'), `${rows.join('\n')}\n`);

  const verdict = (score: number): OodVerdict => ({ method: 'test-method', score, threshold: 1, inDistribution: score <= 1, parts: { confidence: score, residual: score } });
  const labels = ['normal', 'fracture', 'dislocation'];
  const manifest = { id: 'stub', sha256: 'f'.repeat(64), labels, input: { name: 'input', layout: 'NCHW', shape: [1, 1, 8, 8] }, preprocess: { resize: 'stretch', mean: [0.5], std: [0.5] } };
  const order = names.map(([file]) => file);
  let call = 0;
  const answers = [
    { level: 'GREEN', label: 'normal', p: [0.95, 0.03, 0.02], ood: verdict(0.2) },
    { level: 'RED', label: 'fracture', p: [0.1, 0.8, 0.1], ood: verdict(0.4) },
    'reject',
    { level: 'AMBER', label: 'normal', p: [0.5, 0.3, 0.2], ood: verdict(5) },
    // turned back upright, it was familiar: classified RED; as received it scored 3
    { level: 'RED', label: 'fracture', p: [0.05, 0.9, 0.05], ood: verdict(0.3), orientation: { rotated: 270, inverted: false, asReceived: verdict(3) } },
  ] as const;
  const stub = {
    engine: { model: { manifest, variant: 'default' }, infer: async () => ({ logits: [0, 0, 0], probabilities: [0.4, 0.35, 0.25] }) },
    classify: async () => {
      const answer = answers[call++]!;
      if (answer === 'reject') throw new ImageRejectedError(ErrorCode.QUALITY_BLANK, 'blank');
      return { ...answer, triage: { level: answer.level, reason: 'test' }, probabilities: Object.fromEntries(labels.map((l, i) => [l, answer.p[i]!])) };
    },
  } as unknown as Classifier;
  const report = await evaluateOod(stub, [dir]);
  t.is(call, order.length);
  t.deepEqual(report.detector, { guarded: true, method: 'test-method', manifestHasOod: false });
  t.is(report.detection.excludedRejected, 1);
  const rotated = report.images[4]!;
  t.deepEqual(rotated.orientation, { rotated: 270, inverted: false, asReceivedScore: 3, asReceivedInDistribution: false });
  t.is(rotated.baseline!.toFixed(2), '0.60', "the baseline's second look at the image as received (engine.infer), not the corrected one's 0.10");
  t.is(report.images[2]!.code, 'E_QUALITY_BLANK');
  // in 0.2, 0.4 vs far-ood 5 and near-ood 3 (as received, not 0.3): both perfectly separated
  t.like(report.detection.score!.farOod, { nIn: 2, nOut: 1, auroc: 1, thresholdAt95Tpr: 0.4, fprAt95Tpr: 0 });
  t.like(report.detection.score!.nearOod, { nIn: 2, nOut: 1, auroc: 1, fprAt95Tpr: 0 });
  t.like(report.categories.find((c) => c.category === 'rotated90'), { corrected: 1, flagged: 0, accuracy: 1, injuredGreen: 0 });
  t.like(report.categories.find((c) => c.category === 'noise'), { flagged: 1, AMBER: 1 });
  t.is(report.checks.find((c) => c.id === 'detector/far-ood-fpr')!.status, 'pass');
});

test('the shipped model on a real synth-ood set: counts match ood.csv, blank is never GREEN, report files written', async (t) => {
  const { root, config } = workspace(t, { model: SHIPPED_MODEL, quality: { enabled: true } });
  const setDir = path.join(root, 'ood');
  await generateOodSets({ outDir: setDir, seed: 5, count: 2 });
  const rows = readOodSet(setDir);
  const classifier = await openClassifier(config);
  let report: OodEvaluationReport;
  let progress = 0;
  try {
    report = await evaluateOod(classifier, [setDir], { limits: config.imaging, onProgress: () => progress++ });
  } finally {
    await classifier.engine.close();
  }
  t.is(progress, rows.length);
  t.is(report.images.length, rows.length);
  const perCsv = new Map<string, number>();
  for (const r of rows) perCsv.set(r.category, (perCsv.get(r.category) ?? 0) + 1);
  t.deepEqual(new Map(report.categories.map((c) => [c.category, c.n])), perCsv);
  for (const c of report.categories) {
    t.is(c.GREEN + c.AMBER + c.RED + c.rejected, c.n, c.category);
    t.is(c.group, rows.find((r) => r.category === c.category)!.group);
  }
  const blank = report.categories.find((c) => c.category === 'blank')!;
  t.is(blank.GREEN, 0);
  t.is(blank.amberOrRejectedShare, 1);
  t.is(report.checks.find((c) => c.id === 'far-ood/blank')!.status, 'pass');
  t.is(report.detection.excludedRejected, report.images.filter((i) => i.outcome === 'rejected').length);
  t.true(report.images.every((i) => i.outcome === 'rejected' || (i.baseline !== undefined && i.baseline >= 0 && i.baseline < 1)));
  t.is(report.groups['in-distribution'].n, 18);
  t.not(report.detection.baseline.farOod, null);
  if (report.detector.guarded) t.not(report.detection.score, null);
  else t.is(report.checks.find((c) => c.id === 'detector/far-ood-fpr')!.status, 'fail', 'no OOD statistics: the check cannot pass');

  const out = path.join(root, 'report');
  const files = await writeOodReport(report, out);
  t.deepEqual(files.map((f) => path.basename(f)), ['ood.json', 'ood.md', 'ood.png']);
  t.is(JSON.parse(fs.readFileSync(files[0]!, 'utf8')).images.length, rows.length);
  const markdown = fs.readFileSync(files[1]!, 'utf8');
  t.regex(markdown, /^## Must hold/m);
  t.regex(markdown, /\| far-ood \| blank \| 2 \| 0 \|/);
  t.regex(markdown, /\| in-distribution vs far-ood \| \d+ \/ \d+ \|/);
  if (!report.detector.guarded) t.regex(markdown, /no OOD statistics: it is unguarded/);
  const meta = await sharp(files[2]!).metadata();
  t.is(meta.format, 'png');
  t.true(meta.height! > 20 * 30, 'one bar per category');
});

test('model evaluate --ood, repeated, writes ood.* under MODEL_DIR/evaluation/ood/ and exits 0 with failing checks; with --require-pass, 1 (E_OOD_CHECKS_FAILED)', async (t) => {
  const { root, config } = workspace(t);
  const a = path.join(tempDir(t), 'a');
  const b = path.join(tempDir(t), 'b');
  await generateOodSets({ outDir: a, seed: 1, count: 2, categories: ['blank'] });
  await generateOodSets({ outDir: b, seed: 2, count: 2, categories: ['fresh'] });
  const modelDir = path.join(config.model.dir, config.model.id);
  const run = await runCli(['model', 'evaluate', modelDir, '--ood', a, '--ood', b], configEnv(config));
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /4 images in 2 categories/);
  t.regex(run.stdout, /FAIL OOD detector/, 'the brightness model has no OOD statistics');
  const report = JSON.parse(fs.readFileSync(path.join(modelDir, 'evaluation', 'ood', 'ood.json'), 'utf8')) as OodEvaluationReport;
  t.deepEqual(report.sets.map((s) => s.images), [2, 2]);
  t.deepEqual(report.categories.map((c) => [c.category, c.n]), [['blank', 2], ['fresh', 2]]);
  t.true(fs.existsSync(path.join(root, 'models', config.model.id, 'evaluation', 'ood', 'ood.png')));

  // As a package's acceptance, the same failed check fails the command, after the report is written.
  const acceptance = path.join(tempDir(t), 'acceptance');
  const refused = await runCli(['model', 'evaluate', modelDir, '--ood', a, '--require-pass', '--out', acceptance], configEnv(config));
  t.is(refused.code, 1, refused.stderr);
  t.regex(refused.stderr, /E_OOD_CHECKS_FAILED: .* failed 2 must-hold OOD check\(s\): far-ood blank: never GREEN.*; OOD detector: .*unguarded.*Do not ship this package; the report is .*acceptance\/ood\.md/);
  t.regex(refused.stdout, /FAIL OOD detector/);
  t.true(fs.existsSync(path.join(acceptance, 'ood.md')));
  const usage = await runCli(['model', 'evaluate', modelDir, '--data', b, '--require-pass'], configEnv(config));
  t.is(usage.code, 64);
  t.regex(usage.stderr, /--require-pass judges the must-hold checks of --ood DIR/);
});
