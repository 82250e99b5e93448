import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { readManifest } from '../../../src/model/model-package.js';
import { dicomFile } from '../../../src/tools/fixtures/dicom.js';
import { grayImage } from '../../../src/tools/fixtures/images.js';
import { CANDIDATE_THRESHOLDS, greenFilmsNeeded, lampTable, recommendedRow, type ReadFilm } from '../../../src/tools/validate/operating-point.js';
import { normalQuantile, wilson } from '../../../src/tools/validate/wilson.js';
import { jsonLines, runCli } from '../../helpers/cli.js';
import { configEnv, workspace } from '../../helpers/fixtures.js';
import { writeSigningKeys } from '../../helpers/signed-packages.js';

const LABELS = ['normal', 'fracture', 'dislocation'];

test('Wilson intervals match the published values (Newcombe 1998), and 0 of n starts at exactly 0', (t) => {
  const cases: Array<[number, number, number, number]> = [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
    [0, 10, 0, 0.2775],
  ];
  for (const [k, n, low, high] of cases) {
    const interval = wilson(k, n);
    t.is(Number(interval.low.toFixed(4)), low, `${k}/${n} low`);
    t.is(Number(interval.high.toFixed(4)), high, `${k}/${n} high`);
  }
  t.is(wilson(0, 7).low, 0);
  t.is(wilson(7, 7).high, 1);
  t.true(Number.isNaN(wilson(0, 0).share));
  t.like(wilson(0, 0), { low: 0, high: 1 });
  t.true(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-6);
  t.true(Math.abs(normalQuantile(0.995) - 2.575829) < 1e-6);
  t.true(Math.abs(normalQuantile(0.05) + 1.644854) < 1e-6);
  t.throws(() => wilson(3, 2), { instanceOf: RangeError });
});

test('the least GREEN films a target needs: 765 for 0.5% at 95%', (t) => {
  const needed = greenFilmsNeeded(0.005, 0.95);
  t.is(needed, 765);
  t.true(wilson(0, needed).high <= 0.005);
  t.true(wilson(0, needed - 1).high > 0.005);
});

/** `count` films of one class, read with P(normal) `pNormal` and the rest on `other`. */
function films(truth: string, count: number, pNormal: number, other = 'fracture', familiar = true): ReadFilm[] {
  const probabilities = LABELS.map((label) => (label === 'normal' ? pNormal : label === other ? 1 - pNormal : 0));
  const ood = { method: 'test', score: familiar ? 0.5 : 2, threshold: 1, inDistribution: familiar, parts: { confidence: 0.5, residual: 0.5 } };
  return Array.from({ length: count }, () => ({ truth, probabilities, familiarity: { ood } }));
}

test('the lamp table applies the real policy at each threshold; the recommendation is the most GREEN within the bound, the stricter on a tie', (t) => {
  const read = [
    ...films('normal', 40, 0.99),
    ...films('normal', 10, 0.9),
    ...films('normal', 5, 0.99, 'fracture', false), // unfamiliar: AMBER at every threshold
    ...films('fracture', 1, 0.85), // an injured spine the model calls normal
    ...films('fracture', 20, 0.05),
    ...films('dislocation', 20, 0.02, 'dislocation'),
  ];
  const rows = lampTable(read, LABELS, 0.6, 0.1, 0.95);
  t.is(rows.length, CANDIDATE_THRESHOLDS.length);
  const at = (threshold: number) => rows.find((row) => row.greenMinNormal === threshold)!;
  t.like(at(0.85), { normalsGreen: { successes: 50, trials: 55 }, injuredGreen: { successes: 1, trials: 41 }, injuredAmongGreen: { successes: 1, trials: 51 } });
  t.like(at(0.86), { normalsGreen: { successes: 50 }, injuredGreen: { successes: 0 } });
  t.like(at(0.91), { normalsGreen: { successes: 40 }, injuredGreen: { successes: 0 } });
  t.like(at(0.999), { normalsGreen: { successes: 0 } });
  t.false(at(0.999).meetsTarget, 'no GREEN proves nothing');

  // 0 of 50 GREEN: upper bound 7.1% ≤ 10%; 1 of 51 at 0.85: 10.3% > 10%.
  t.false(at(0.85).meetsTarget);
  t.true(at(0.86).meetsTarget);
  const best = recommendedRow(rows)!;
  t.is(best.greenMinNormal, 0.9, 'of 0.86–0.90, all showing 50 normals GREEN, the strictest');
  t.true(best.injuredAmongGreen.high <= 0.1, 'the recommendation meets its bound on the films it was computed on');
  t.is(recommendedRow(lampTable(read, LABELS, 0.6, 0.01, 0.95)), undefined, '1% needs 381 GREEN films');
});

/** Gray frames for the brightness model: bright reads normal, mid fracture, dark dislocation. */
async function siteFilms(root: string): Promise<string> {
  const dir = path.join(root, 'site-films');
  const plan: Array<[string, number, number]> = [
    ['c-spine_nor', 30, 236],
    ['c-spine_frac', 8, 115],
    ['c-spine_frac', 1, 226], // bright: read as normal
    ['c-spine_dis', 8, 30],
  ];
  let i = 0;
  for (const [folder, count, brightness] of plan) {
    fs.mkdirSync(path.join(dir, folder), { recursive: true });
    for (let n = 0; n < count; n++, i++) fs.writeFileSync(path.join(dir, folder, `film${i}.png`), await grayImage(brightness + (n % 4), { seed: i }));
  }
  // DICOM films beside the rasters, read by the runtime's own decoder.
  for (let n = 0; n < 4; n++, i++) {
    const pixels = new Uint8Array(64 * 48).fill(26 + n);
    pixels[n * 97] = 60;
    fs.writeFileSync(path.join(dir, 'c-spine_dis', `film${i}.dcm`), dicomFile({ rows: 48, columns: 64, bitsAllocated: 8, bitsStored: 8, pixels, bodyPart: 'CSPINE', viewPosition: 'LL' }));
  }
  return dir;
}

test('model validate: the research layout read, the report written, the recommendation written into a signed package and signed again', async (t) => {
  const { root, config } = workspace(t);
  const data = await siteFilms(root);
  const modelDir = path.join(config.model.dir, config.model.id);
  const out = path.join(root, 'validation');
  const env = configEnv(config);

  const report = await runCli(['model', 'validate', modelDir, '--data', data, '--out', out, '--target', '0.25'], env);
  t.is(report.code, 0, report.stderr);
  t.regex(report.stdout, /51 films \(0 rejected\)/);
  const json = JSON.parse(fs.readFileSync(path.join(out, 'validation.json'), 'utf8'));
  t.deepEqual(json.data.byClass, { normal: 30, fracture: 9, dislocation: 12 }, 'c-spine_nor/frac/dis read as our labels, DICOM films with them');
  t.is(json.data.name, 'site-films', 'the folder name only, never the path');
  t.is(json.confusion[2][0] + json.lamps.dislocation.GREEN, 0, 'no dislocation film, PNG or DICOM, read as normal');
  const recommended = json.recommendation.greenMinNormal;
  t.is(typeof recommended, 'number', JSON.stringify(json.recommendation));
  t.true(json.recommendation.row.injuredAmongGreen.high <= 0.25);
  t.regex(fs.readFileSync(path.join(out, 'validation.md'), 'utf8'), new RegExp(`\\*\\*greenMinNormal ${recommended}\\*\\*`));
  t.is((await sharp(path.join(out, 'lamp-table.png')).metadata()).format, 'png');

  const keys = writeSigningKeys(root, 'site');
  t.is((await runCli(['model', 'sign', modelDir, '--key', keys.privateFile], env)).code, 0);
  const unsignedWrite = await runCli(['model', 'validate', modelDir, '--data', data, '--out', out, '--target', '0.25', '--write'], env);
  t.not(unsignedWrite.code, 0);
  t.regex(unsignedWrite.stderr, /is signed: .* give --key KEY/);
  t.is((await readManifest(modelDir)).triage, undefined, 'nothing written when it could not be signed again');

  const written = await runCli(['model', 'validate', modelDir, '--data', data, '--out', out, '--target', '0.25', '--write', '--key', keys.privateFile], env);
  t.is(written.code, 0, written.stderr);
  const manifest = await readManifest(modelDir);
  t.is(manifest.triage?.greenMinNormal, recommended);
  t.like(manifest.triage?.validation, { films: 51, data: 'site-films', maxInjuredAmongGreen: 0.25, confidence: 0.95 });
  const reportBytes = fs.readFileSync(path.join(out, 'validation.json'));
  t.is(manifest.triage?.validation?.reportSha256, crypto.createHash('sha256').update(reportBytes).digest('hex'), 'the hash of the report the threshold came from');
  t.is((await runCli(['model', 'verify', modelDir, '--trusted', keys.publicFile], env)).code, 0, 'signed again: a device takes it');
  const [classified] = jsonLines((await runCli(['classify', path.join(data, 'c-spine_nor', 'film0.png'), '--json'], env)).stdout);
  t.deepEqual((classified!.model as { thresholds: unknown }).thresholds, { greenMinNormal: recommended, redMinAbnormal: 0.6, validatedBy: manifest.triage?.validation?.reportSha256 }, 'each result says which validation its threshold came from');
  const overridden = jsonLines((await runCli(['classify', path.join(data, 'c-spine_nor', 'film0.png'), '--json'], { ...env, CSPINE_TRIAGE__GREEN_MIN_NORMAL: '0.8' })).stdout);
  t.like(overridden[0]!.model, { thresholds: { greenMinNormal: 0.8, validatedBy: null } }, "a device's own override is not the validated threshold");
  const doctor = jsonLines((await runCli(['doctor', '--json'], env)).stdout).find((check) => check.name === 'thresholds');
  t.like(doctor, { status: 'ok' });
  t.regex(String(doctor!.detail), new RegExp(`^greenMinNormal ${recommended}, .*validated on 51 films of "site-films"`));
  const doctorOverridden = jsonLines((await runCli(['doctor', '--json'], { ...env, CSPINE_TRIAGE__GREEN_MIN_NORMAL: '0.8' })).stdout).find((check) => check.name === 'thresholds');
  t.like(doctorOverridden, { status: 'warn' }, 'a configuration that overrides the validated threshold is not ok');
  t.regex(String(doctorOverridden!.detail), new RegExp(`^greenMinNormal 0\\.8 from the configuration overrides the ${recommended} validated on 51 films`));

  const none = await runCli(['model', 'validate', modelDir, '--data', data, '--out', out, '--write', '--key', keys.privateFile], env);
  t.is(none.code, 3, 'at 0.5% there is no recommendation: nothing is written');
  t.regex(none.stdout, /takes 765 GREEN films/);
  t.is((await readManifest(modelDir)).triage?.greenMinNormal, recommended);
});
