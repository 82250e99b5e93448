import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { jsonLines, runCli } from './helpers/cli.js';
import { dicomFile, everySyntax, pattern, SYNTAX_TOOLS } from '../src/tools/fixtures/dicom.js';
import { haveTools } from './helpers/dicom.js';
import { configEnv, workspace } from './helpers/fixtures.js';

const ROWS = 128;
const COLUMNS = 96;
const PATIENT = { patientName: 'MUSTERMANN^ERIKA', patientId: 'PID-55501', birthDate: '19640812' };
const LATERAL = { bodyPart: 'CSPINE', viewPosition: 'LL', acquisition: { date: '20250301', time: '101502' }, ...PATIENT };

/** Bright (mean display value ≈ 0.9): the brightness test model calls it normal, GREEN. */
function brightSpecs() {
  const wide = Uint16Array.from(pattern(ROWS, COLUMNS, 9, 7), (v) => 3500 + v);
  const narrow = Uint16Array.from(pattern(ROWS, COLUMNS, 5, 7), (v) => 215 + v);
  narrow[0] = 0; // full 0..255 range: dcmtk's lossy JPEG encoder shifts the minimum to 0
  narrow[narrow.length - 1] = 255;
  return {
    wide: { rows: ROWS, columns: COLUMNS, bitsStored: 12, pixels: wide, window: { center: 2048, width: 4096 }, ...LATERAL },
    narrow: { rows: ROWS, columns: COLUMNS, bitsAllocated: 8 as const, pixels: narrow, window: { center: 128, width: 256 }, modality: 'CR', sopClassUid: '1.2.840.10008.5.1.4.1.1.1', ...LATERAL },
  };
}

test.serial('classify FILE.dcm --json works for every supported transfer syntax', async (t) => {
  if (!haveTools(t, ...SYNTAX_TOOLS)) return;
  const { root, config } = workspace(t);
  const { wide, narrow } = brightSpecs();
  const samples = everySyntax(wide, narrow);
  const files = samples.map((sample, i) => {
    const file = path.join(root, `image-${i}.dcm`);
    fs.writeFileSync(file, sample.bytes);
    return file;
  });
  const run = await runCli(['classify', ...files, '--json'], configEnv(config));
  t.is(run.code, 0, run.stderr + run.stdout);
  const lines = jsonLines(run.stdout);
  t.is(lines.length, samples.length);
  t.true(run.stdout.trimEnd().split('\n').every((line) => line.startsWith('{')), 'nothing but JSON lines on stdout (the WASM codecs print nothing)');
  lines.forEach((line, i) => {
    const name = samples[i]!.name;
    t.like(line, { file: files[i], ok: true, label: 'normal', triage: { level: 'GREEN' } }, name);
    t.like(line.dicom, { modality: /JPEG (Baseline|Extended)/.test(name) ? 'CR' : 'DX', bodyPartExamined: 'CSPINE', viewPosition: 'LL', acquisitionDateTime: '2025-03-01T10:15:02', transferSyntaxUid: samples[i]!.uid }, name);
  });
  for (const secret of ['MUSTERMANN', 'ERIKA', 'PID-55501', '19640812', '1.2.826.0.1.3680043.10.1091.2.1']) {
    t.false(run.stdout.includes(secret) || run.stderr.includes(secret), `${secret} printed`);
  }
});

test.serial('classify: recognised by content whatever the name; a chest PA is AMBER with the reason, never GREEN', async (t) => {
  const { root, config } = workspace(t);
  const { wide } = brightSpecs();
  const named = path.join(root, 'looks-like.png');
  const chest = path.join(root, 'chest.dcm');
  fs.writeFileSync(named, dicomFile(wide));
  fs.writeFileSync(chest, dicomFile({ ...wide, bodyPart: 'CHEST', viewPosition: 'PA' }));
  const run = await runCli(['classify', named, chest, '--json'], configEnv(config));
  t.is(run.code, 0, run.stderr);
  const [png, pa] = jsonLines(run.stdout);
  t.like(png, { ok: true, label: 'normal', triage: { level: 'GREEN' }, dicom: { modality: 'DX' } });
  t.like(pa, { ok: true, label: 'normal', triage: { level: 'AMBER' } });
  t.regex(String((pa!.triage as { reason: string }).reason), /not a cervical-spine lateral \(BodyPartExamined CHEST, ViewPosition PA\)/);
});

test.serial('classify on broken and refused DICOM files: distinct codes, exit 2, fast, small', async (t) => {
  const { root, config } = workspace(t);
  const valid = dicomFile({ rows: 256, columns: 256, bitsStored: 12, pixels: pattern(256, 256, 12) });
  const cases: Array<[string, Buffer, string]> = [
    ['empty.dcm', Buffer.alloc(0), 'E_FILE_EMPTY'],
    ['random.dcm', Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919 + 13) % 251)), 'E_NOT_AN_IMAGE'],
    ['truncated.dcm', valid.subarray(0, valid.length >> 1), 'E_DICOM_TRUNCATED'],
    ['huge.dcm', dicomFile({ rows: 60000, columns: 60000, pixels: [1, 2, 3, 4] }), 'E_IMAGE_TOO_LARGE'],
    ['no-pixels.dcm', dicomFile({ rows: 256, columns: 256 }), 'E_DICOM_NO_PIXEL_DATA'],
    ['ct.dcm', dicomFile({ rows: 2, columns: 2, pixels: [1, 2, 3, 4], modality: 'CT', sopClassUid: '1.2.840.10008.5.1.4.1.1.2' }), 'E_DICOM_MODALITY_UNSUPPORTED'],
    ['for-processing.dcm', dicomFile({ rows: 2, columns: 2, pixels: [1, 2, 3, 4], presentationIntent: 'FOR PROCESSING' }), 'E_DICOM_FOR_PROCESSING'],
  ];
  const files = cases.map(([name, bytes]) => {
    const file = path.join(root, name);
    fs.writeFileSync(file, bytes);
    return file;
  });
  const run = await runCli(['classify', ...files, '--json'], configEnv(config));
  t.is(run.code, 2, run.stderr);
  const codes = jsonLines(run.stdout).map((line) => (line.error as { code: string }).code);
  t.deepEqual(codes, cases.map(([, , code]) => code));
  t.true(run.wallMs < 10_000, `took ${run.wallMs} ms for the whole process`);
  t.true(run.maxRssMb! < 300, `peak RSS ${run.maxRssMb} MB`);
  t.log(`${cases.length} bad DICOM files: ${run.wallMs} ms wall, peak RSS ${run.maxRssMb!.toFixed(0)} MB`);
});
