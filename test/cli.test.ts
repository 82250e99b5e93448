import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { Service } from '../src/service.js';
import { SimulatedIndicators } from '../src/indicators/simulated.js';
import { referenceImage } from '../src/jobs/self-test.js';
import { jsonLines, runCli } from './helpers/cli.js';
import { grayImage, writeBadFiles } from '../src/tools/fixtures/images.js';
import { capturedLogger, configEnv, SHIPPED_MODEL, waitFor, workspace } from './helpers/fixtures.js';
import { png } from '../src/tools/fixtures/quality-images.js';

test('classify --json answers one contract line per file, exit 0', async (t) => {
  const { root, config } = workspace(t);
  const files = [
    [path.join(root, 'normal.png'), await grayImage(230)],
    [path.join(root, 'fracture.jpg'), await grayImage(115, { format: 'jpeg' })],
  ] as const;
  for (const [file, bytes] of files) fs.writeFileSync(file, bytes);
  const run = await runCli(['classify', ...files.map(([file]) => file), '--json'], configEnv(config));
  t.is(run.code, 0, run.stderr);
  const [normal, fracture] = jsonLines(run.stdout);
  t.like(normal, { file: files[0][0], ok: true, label: 'normal', triage: { level: 'GREEN' }, model: { id: config.model.id } });
  t.like(fracture, { ok: true, label: 'fracture', triage: { level: 'RED' } });
  t.deepEqual(Object.keys(normal!).sort(), ['file', 'label', 'model', 'ok', 'probabilities', 'timingsMs', 'triage']);
  t.deepEqual(Object.keys(normal!.probabilities as object), ['normal', 'fracture', 'dislocation']);
  t.regex(String((normal!.model as { sha256: string }).sha256), /^[0-9a-f]{64}$/);
  t.true(typeof (normal!.timingsMs as { total: number }).total === 'number');
});

test.serial('classify on a truncated JPEG, a text .png, an SVG and a 40000×40000 PNG: distinct codes, exit 2, fast, small', async (t) => {
  const { root, config } = workspace(t);
  const files = await writeBadFiles(root);
  const run = await runCli(['classify', ...files, '--json'], configEnv(config));
  t.is(run.code, 2, run.stderr);
  const lines = jsonLines(run.stdout);
  t.is(lines.length, 4);
  const codes = lines.map((line) => {
    t.false(line.ok as boolean);
    return (line.error as { code: string }).code;
  });
  t.deepEqual(codes, ['E_IMAGE_CORRUPT', 'E_NOT_AN_IMAGE', 'E_FORMAT_UNSUPPORTED', 'E_IMAGE_TOO_LARGE']);
  t.true(lines.every((line) => String((line.error as { message: string }).message).length > 10));
  // The 2 s target is measured by `npm run bench` (CI machines are noisy); here only a bound
  // that decoding the 1.6-gigapixel bomb would blow.
  t.true(run.wallMs < 10_000, `took ${run.wallMs} ms for the whole process`);
  t.true(run.maxRssMb! < 300, `peak RSS ${run.maxRssMb} MB`);
  t.log(`4 bad files: ${run.wallMs} ms wall, peak RSS ${run.maxRssMb!.toFixed(0)} MB`);
});

test('classify: an all-black 1024×1280 PNG (a failed exposure) is refused by the quality gate, exit 2; a radiograph still passes', async (t) => {
  const { root, config } = workspace(t, { model: SHIPPED_MODEL, quality: { enabled: true } });
  const black = path.join(root, 'black.png');
  const reference = path.join(root, 'reference.png');
  fs.writeFileSync(black, await png({ width: 1024, height: 1280, bits: 8, pixels: new Uint8Array(1024 * 1280) }));
  fs.writeFileSync(reference, await referenceImage());
  const run = await runCli(['classify', black, reference, '--json'], configEnv(config));
  t.is(run.code, 2, run.stderr);
  const [refused, classified] = jsonLines(run.stdout);
  t.like(refused, { file: black, ok: false, error: { code: 'E_QUALITY_BLANK' } });
  t.regex(String((refused!.error as { message: string }).message), /^blank or uniform frame: .*quality\.blankMaxRange/);
  t.like(classified, { file: reference, ok: true, model: { id: 'cspine-alexnet-demo' } });
  t.true(typeof (classified!.timingsMs as { quality: number }).quality === 'number');
  // The gate's measures and the detector's verdict travel with every classified line.
  t.like(classified, { quality: { ok: true }, ood: { method: 'msp+pca-residual', threshold: 1 } });
  t.is(typeof (classified!.ood as { inDistribution: boolean }).inDistribution, 'boolean');
});

test('classify prints readable lines without --json and names missing files', async (t) => {
  const { root, config } = workspace(t);
  fs.writeFileSync(path.join(root, 'a.png'), await grayImage(30));
  const run = await runCli(['classify', path.join(root, 'a.png'), path.join(root, 'missing.png')], configEnv(config));
  t.is(run.code, 2);
  t.regex(run.stdout, /^RED\s+.*a\.png\s+dislocation suspected/m);
  t.regex(run.stdout, /^REJECTED\s+.*missing\.png\s+E_FILE_UNREADABLE/m);
});

test('classify without a usable model is an internal failure: exit 1 and the reason', async (t) => {
  const { root, config } = workspace(t, { model: { id: 'absent' } });
  fs.writeFileSync(path.join(root, 'a.png'), await grayImage(230));
  const run = await runCli(['classify', path.join(root, 'a.png'), '--json'], configEnv(config));
  t.is(run.code, 1);
  t.regex(run.stderr, /E_MODEL_NOT_FOUND/);
  t.is(run.stdout, '');

  // Files that cannot be decoded are answered without ever needing the model.
  fs.writeFileSync(path.join(root, 'text.png'), 'not an image');
  const unreadable = await runCli(['classify', path.join(root, 'text.png'), '--json'], configEnv(config));
  t.is(unreadable.code, 2);
  t.like(jsonLines(unreadable.stdout)[0], { ok: false, error: { code: 'E_NOT_AN_IMAGE' } });
});

test('history shows what the service recorded, newest first', async (t) => {
  const { config } = workspace(t);
  const service = new Service(config, capturedLogger().logger, new SimulatedIndicators());
  let committed = 0;
  service.bus.on('resultCommitted', service, () => committed++);
  await service.start();
  fs.writeFileSync(path.join(config.capture.dir, 'first.png'), await grayImage(230));
  await waitFor(() => committed === 1, 20_000, 'first');
  fs.writeFileSync(path.join(config.capture.dir, 'second.png'), 'garbage');
  await waitFor(() => committed === 2, 20_000, 'second');
  await service.stop();

  const json = await runCli(['history', '--json', '--limit', '5'], configEnv(config));
  t.is(json.code, 0, json.stderr);
  const entries = jsonLines(json.stdout);
  t.deepEqual(entries.map((entry) => entry.source), ['second.png', 'first.png']);
  t.like(entries[0], { outcome: 'rejected', error: { code: 'E_NOT_AN_IMAGE' }, triage: { level: 'AMBER' } });
  t.like(entries[1], { outcome: 'classified', label: 'normal', triage: { level: 'GREEN' } });

  const human = await runCli(['history', '--limit', '1'], configEnv(config));
  t.regex(human.stdout, /lamp/);
  t.regex(human.stdout, /AMBER\s+E_NOT_AN_IMAGE\s+-\s+second\.png/, 'sync off: nothing to send');
  t.regex(human.stdout, /outbox: nothing waiting for MQTT delivery/);
  t.notRegex(human.stdout, /first\.png/);
});

test('config prints the effective settings with secrets masked; a bad one exits 78 listing problems', async (t) => {
  const { config } = workspace(t);
  const good = await runCli(['config'], { ...configEnv(config), CSPINE_SYNC__MQTT__PASSWORD: 'hunter2' });
  t.is(good.code, 0);
  const printed = JSON.parse(good.stdout) as { capture: { dir: string }; sync: { mqtt: { password: string } } };
  t.is(printed.capture.dir, config.capture.dir);
  t.is(printed.sync.mqtt.password, '********');
  t.false(good.stdout.includes('hunter2'));

  const bad = await runCli(['config'], { CSPINE_CAPTURE__STABLE_WINDOW_MS: 'later', CSPINE_LOG__LEVEL: 'loud' });
  t.is(bad.code, 78);
  t.regex(bad.stderr, /capture\.stableWindowMs/);
  t.regex(bad.stderr, /log\.level/);
});

test('unknown commands and options print usage and exit 64', async (t) => {
  const run = await runCli(['frobnicate']);
  t.is(run.code, 64);
  t.regex(run.stderr, /unknown command "frobnicate"/);
  t.regex(run.stderr, /usage: cspine-edge/);
});

test('each command parses its own options: --help prints its usage, another command\'s option is a usage error', async (t) => {
  const help = await runCli(['classify', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^usage: cspine-edge classify FILE\|DIR\.\.\. /);
  t.regex(help.stdout, /--files-from LIST\|-/);
  t.regex(help.stdout, /--config FILE/);

  const foreign = await runCli(['history', '--heatmap', 'x']);
  t.is(foreign.code, 64);
  t.regex(foreign.stderr, /Unknown option '--heatmap'/);
  t.regex(foreign.stderr, /usage: cspine-edge history \[--json\] \[--limit N\]/);

  const limit = await runCli(['history', '--limit', '0']);
  t.is(limit.code, 64);
  t.regex(limit.stderr, /--limit must be a positive whole number, not "0"/);

  const overview = await runCli(['--help']);
  t.is(overview.code, 0);
  t.regex(overview.stdout, /^ {2}model ood-calibrate +out-of-distribution detector/m);
});

test('--config FILE before or after the command; only the commands that use the configuration read it', async (t) => {
  const { root } = workspace(t);
  const file = path.join(root, 'cspine.json');
  fs.writeFileSync(file, JSON.stringify({ deviceId: 'from-the-file' }));
  for (const args of [['config', '--config', file], ['--config', file, 'config']]) {
    const run = await runCli(args);
    t.is(run.code, 0, run.stderr);
    t.is((JSON.parse(run.stdout) as { deviceId: string }).deviceId, 'from-the-file');
  }
  const broken = { CSPINE_LOG__LEVEL: 'loud' };
  t.is((await runCli(['lamps-off'], broken)).code, 78);
  const synth = await runCli(['synth', '--out', path.join(root, 'phantoms'), '--count', '1', '--seed', '1', '--size', '64x80'], broken);
  t.is(synth.code, 0, synth.stderr);
});

test('synth writes class folders and labels.csv; bad options are usage errors', async (t) => {
  const { root } = workspace(t);
  const out = path.join(root, 'phantoms');
  const run = await runCli(['synth', '--out', out, '--count', '6', '--seed', '11', '--size', '128x160']);
  t.is(run.code, 0, run.stderr);
  const labels = fs.readFileSync(path.join(out, 'labels.csv'), 'utf8').trim().split('\n');
  t.is(labels.length, 7);
  t.deepEqual(fs.readdirSync(out).sort(), ['dislocation', 'fracture', 'labels.csv', 'normal']);
  const bad = await runCli(['synth', '--out', out, '--count', '1', '--seed', '1', '--bits', '12']);
  t.is(bad.code, 64);
  t.regex(bad.stderr, /--bits must be 8 or 16/);
});

test('lamp-test shows each lamp in turn on the simulated backend', async (t) => {
  const run = await runCli(['lamp-test'], { CSPINE_INDICATORS__BACKEND: 'simulated' });
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /lamp backend: simulated: chosen by indicators\.backend/);
  const shown = [...run.stderr.matchAll(/lamp test: lamps .*\[(GREEN|AMBER|RED)\]/g)].map((match) => match[1]);
  t.deepEqual(shown, ['GREEN', 'AMBER', 'RED']);
  t.regex(run.stdout, /lamp test done/);
});
