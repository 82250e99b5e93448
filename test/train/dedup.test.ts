import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import sharp from 'sharp';
import { dicomFile } from '../../src/tools/fixtures/dicom.js';
import { tempDir } from '../helpers/fixtures.js';

// A fake "research dataset" (c-spine_* class folders, no groups) built from phantoms, with
// copies of some films (re-encoded, resized, cut, brightened), DICOM twins and one copy filed
// under the wrong class: scripts/train/dataset.py must group the copies before splitting, and
// its --audit must show the leak a per-image split would have had.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy, PIL'], { stdio: 'ignore' }).status === 0;
const hasDist = fs.existsSync(path.join(ROOT, 'dist/cli.js')) && fs.existsSync(path.join(ROOT, 'dist/imaging/preprocess.js'));
const trainingTest = (hasTorch && hasDist) || process.env.CI ? test : test.skip;

const FOLDERS: Record<string, string> = { normal: 'c-spine_nor', fracture: 'c-spine_frac', dislocation: 'c-spine_dis' };

interface AuditFile { file: string; label: string; split: string }
interface Audit {
  images: number;
  clusters: { size: number; labelConflict: boolean; splits: string[]; files: AuditFile[] }[];
  labelConflicts: number;
  crossSplitPairs: { groupSplit: number; perImageSplit: number };
  split: Record<string, { images: number; perClass: Record<string, number> }>;
}

async function copiesOf(file: string): Promise<Record<string, Buffer>> {
  const { width, height } = await sharp(file).metadata();
  const w = width!;
  const h = height!;
  const cutX = Math.round(w * 0.05);
  const cutY = Math.round(h * 0.05);
  return {
    'jpeg.jpg': await sharp(file).jpeg({ quality: 70 }).toBuffer(),
    'resized.png': await sharp(file).resize(Math.round(w * 0.7), Math.round(h * 0.7)).png().toBuffer(),
    'cut.png': await sharp(file).extract({ left: Math.floor(cutX / 2), top: cutY, width: w - cutX, height: h - cutY }).png().toBuffer(),
    'bright.png': await sharp(file).linear(1.15, 10).png().toBuffer(),
  };
}

async function dicomTwin(file: string, n: number, patientId = `SITE-${n}`): Promise<Buffer> {
  const { data, info } = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
  const pixels = new Uint16Array(info.width * info.height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = data[i * info.channels]! * 257;
  return dicomFile({
    rows: info.height,
    columns: info.width,
    bitsAllocated: 16,
    bitsStored: 16,
    pixels,
    bodyPart: 'CSPINE',
    // without a window the runtime stretches a film to its own darkest..brightest sample; this
    // window is the identity, so the twin's pixels are the PNG's
    window: { center: 32768, width: 65536 },
    studyUid: `1.2.826.0.1.3680043.10.1091.2.${100 + n}`,
    patientId,
    sopInstanceUid: `1.2.826.0.1.3680043.10.1091.1.${100 + n}`,
  });
}

function python(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const done = spawnSync(PYTHON, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  return { status: done.status, stdout: done.stdout, stderr: done.stderr };
}

trainingTest('research layout with copies and DICOM twins: copies grouped into one split, the audit shows the per-image leak', async (t) => {
  t.timeout(3 * 60_000);
  const tmp = tempDir(t, 'cspine-dedup-');
  const synth = spawnSync('node', ['dist/cli.js', 'synth', '--out', path.join(tmp, 'phantoms'), '--count', '30', '--seed', '5', '--size', '128x160'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  t.is(synth.status, 0, synth.stderr);

  // rearrange into the research dataset's folders, without labels.csv (so: no groups)
  const data = path.join(tmp, 'data');
  const byClass: Record<string, string[]> = {};
  for (const [label, folder] of Object.entries(FOLDERS)) {
    fs.mkdirSync(path.join(data, folder), { recursive: true });
    byClass[label] = fs.readdirSync(path.join(tmp, 'phantoms', label)).filter((n) => n.endsWith('.png')).sort();
    for (const name of byClass[label]!) fs.copyFileSync(path.join(tmp, 'phantoms', label, name), path.join(data, folder, name));
  }

  // copies of two films per class, a DICOM twin of one film per class, one copy filed wrongly
  const families: string[][] = [];
  const twins: [string, string][] = [];
  let n = 0;
  for (const [label, folder] of Object.entries(FOLDERS)) {
    for (const name of byClass[label]!.slice(0, 2)) {
      const original = `${folder}/${name}`;
      const family = [original];
      for (const [suffix, bytes] of Object.entries(await copiesOf(path.join(data, original)))) {
        const copy = `${folder}/${name.replace('.png', `-${suffix}`)}`;
        fs.writeFileSync(path.join(data, copy), bytes);
        family.push(copy);
      }
      families.push(family);
    }
    const twinOf = `${folder}/${byClass[label]![2]!}`;
    const twin = twinOf.replace('.png', '-twin.dcm');
    fs.writeFileSync(path.join(data, twin), await dicomTwin(path.join(data, twinOf), n++));
    twins.push([twinOf, twin]);
  }
  // two different films of one patient, each with its PNG, in different studies: one group
  const patient: string[] = [];
  for (const index of [5, 6]) {
    const film = `${FOLDERS.normal}/${byClass.normal![index]!}`;
    const dicom = film.replace('.png', '-patient.dcm');
    fs.writeFileSync(path.join(data, dicom), await dicomTwin(path.join(data, film), n++, 'PAT-0077'));
    patient.push(film, dicom);
  }
  const misfiledFrom = `${FOLDERS.normal}/${byClass.normal![3]!}`;
  const misfiled = `${FOLDERS.fracture}/${byClass.normal![3]!.replace('.png', '-misfiled.jpg')}`;
  fs.writeFileSync(path.join(data, misfiled), await sharp(path.join(data, misfiledFrom)).jpeg({ quality: 80 }).toBuffer());

  const auditDir = path.join(tmp, 'audit');
  const run = python(['scripts/train/dataset.py', '--data', data, '--audit', auditDir, '--workers', '1']);
  t.is(run.status, 0, run.stderr.slice(-3000));
  const audit = JSON.parse(fs.readFileSync(path.join(auditDir, 'audit.json'), 'utf8')) as Audit;
  t.is(audit.images, 30 + families.length * 5 - families.length + twins.length + 2 + 1);
  t.true(fs.statSync(path.join(auditDir, 'duplicates.png')).size > 1000);
  t.regex(fs.readFileSync(path.join(auditDir, 'audit.md'), 'utf8'), /per-image split/);

  const clusterOf = (file: string) => audit.clusters.find((c) => c.files.some((f) => f.file === file));
  const splitOf = new Map(audit.clusters.flatMap((c) => c.files.map((f) => [f.file, f.split] as const)));
  for (const family of [...families, ...twins, patient, [misfiledFrom, misfiled]]) {
    const cluster = clusterOf(family[0]!);
    t.truthy(cluster, `${family[0]} is in no duplicate cluster`);
    t.deepEqual(cluster!.files.map((f) => f.file).sort(), [...family].sort(), `copies of ${family[0]} form one cluster, and nothing else joins it`);
    t.is(new Set(family.map((f) => splitOf.get(f))).size, 1, `copies of ${family[0]} split apart: ${JSON.stringify(cluster)}`);
  }
  t.is(audit.clusters.length, families.length + twins.length + 1 + 1, 'distinct phantoms are not merged');
  t.is(audit.labelConflicts, 1);
  t.true(clusterOf(misfiled)!.labelConflict);
  t.is(audit.crossSplitPairs.groupSplit, 0);
  t.true(audit.crossSplitPairs.perImageSplit > 0, 'a per-image split of the same data would have put copies on both sides');

  // DICOM twins: read by the runtime's decoder, same letterboxed pixels as their PNG (within rounding)
  const probe = python(['-c', [
    'import sys, json; sys.path.insert(0, "scripts/train"); import dataset as ds; from pathlib import Path',
    `pairs = json.loads(${JSON.stringify(JSON.stringify(twins))})`,
    'root = Path(sys.argv[1]); out = []',
    'for png, dcm in pairs:',
    '    l = ds.load_all(root, [ds.Sample(png, 0, "a"), ds.Sample(dcm, 0, "b")], "runtime")',
    '    a = l.images[0] / 255.0; b = l.images[1] / (65535.0 if l.bits[1] == 16 else 255.0)',
    '    out.append({"bits": int(l.bits[1]), "box": l.boxes[1].tolist() == l.boxes[0].tolist(), "maxDiff": float(abs(a - b).max())})',
    'print(json.dumps(out))',
  ].join('\n'), data]);
  t.is(probe.status, 0, probe.stderr.slice(-3000));
  for (const twin of JSON.parse(probe.stdout.trim().split('\n').at(-1)!) as { bits: number; box: boolean; maxDiff: number }[]) {
    t.is(twin.bits, 16);
    t.true(twin.box);
    t.true(twin.maxDiff < 2 / 255, JSON.stringify(twin));
  }

  // the pure-Python fallback cannot read DICOM: it says so, naming a file, instead of misreading it
  const pil = python(['scripts/train/dataset.py', '--data', data, '--preprocess', 'pil', '--check', '0']);
  t.not(pil.status, 0);
  t.regex(pil.stderr, /-twin\.dcm.*cannot read DICOM.*npm run build/s);

  // the training path (DataSource, as train.py uses it) groups the same way
  const split = python(['scripts/train/dataset.py', '--data', data, '--check', '2', '--workers', '1']);
  t.is(split.status, 0, split.stderr.slice(-3000));
  t.regex(split.stderr, new RegExp(`near-duplicate grouping .*${families.length + twins.length + 1 + 1} clusters.*1 DICOM same-patient links`));
});
