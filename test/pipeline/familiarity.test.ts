import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { configSchema } from '../../src/config/schema.js';
import type { Classifier } from '../../src/pipeline/classifier.js';
import { openClassifier } from '../../src/pipeline/open-classifier.js';
import { generatePhantoms } from '../../src/tools/synth/generate.js';
import { generateOodSets } from '../../src/tools/synth/ood/generate.js';
import { tempDir } from '../helpers/fixtures.js';

// The shipped, guarded model on fresh phantoms (a seed no set of ours uses) and other anatomy.
const open = (orientationSearch = true) => openClassifier(configSchema.parse({ model: { dir: path.resolve('models') }, triage: { orientationSearch } }));

async function phantoms(t: Parameters<typeof tempDir>[0]): Promise<{ normal: Buffer; fracture: Buffer; dislocation: Buffer }> {
  const dir = tempDir(t);
  await generatePhantoms({ outDir: dir, count: 3, seed: 777_001 });
  const read = (file: string) => fs.readFileSync(path.join(dir, file));
  return { normal: read('normal/phantom-000000.png'), fracture: read('fracture/phantom-000001.png'), dislocation: read('dislocation/phantom-000002.png') };
}

const turned = (bytes: Buffer, degrees: number) => sharp(bytes).rotate(degrees).png().toBuffer();
const negative = (bytes: Buffer) => sharp(bytes).negate({ alpha: false }).png().toBuffer();

let classifier: Classifier;
let unsearched: Classifier;
test.before(async () => {
  classifier = await open();
  unsearched = await open(false);
});
test.after.always(async () => {
  await classifier?.engine.close();
  await unsearched?.engine.close();
});

test('a fresh phantom is familiar and classified as it arrived', async (t) => {
  const images = await phantoms(t);
  const normal = await classifier.classify(images.normal);
  t.true(normal.ood?.inDistribution);
  t.is(normal.orientation, undefined);
  t.is(normal.triage.level, 'GREEN');
  const fracture = await classifier.classify(images.fracture);
  t.is(fracture.triage.level, 'RED');
  t.true(fracture.ood!.score <= 1);
});

test('an injured spine turned or inverted is never GREEN; found in its right orientation it is RED', async (t) => {
  const images = await phantoms(t);
  for (const [how, bytes] of [
    ['rotated 180', await turned(images.dislocation, 180)],
    ['rotated 90', await turned(images.fracture, 90)],
    ['inverted', await negative(images.fracture)],
  ] as const) {
    const result = await classifier.classify(bytes);
    t.not(result.triage.level, 'GREEN', how);
    if (result.orientation) {
      t.is(result.triage.level, 'RED', how);
      t.regex(result.triage.reason, /; read (rotated|inverted)/, how);
      t.false(result.orientation.asReceived.inDistribution && result.orientation.asReceived.score <= result.ood!.score, how);
    }
    // Without the search, unfamiliar is simply AMBER.
    const plain = await unsearched.classify(bytes);
    t.not(plain.triage.level, 'GREEN', how);
    t.is(plain.orientation, undefined);
  }
});

test('a normal spine that is familiar only once inverted is AMBER, never GREEN', async (t) => {
  const images = await phantoms(t);
  const result = await classifier.classify(await negative(images.normal));
  t.is(result.triage.level, 'AMBER');
  if (result.orientation) t.regex(result.triage.reason, /normal only once inverted/);
  else t.false(result.ood!.inDistribution);
});

test('other anatomy is outside the model’s world: AMBER with the detector’s reason', async (t) => {
  const dir = tempDir(t);
  await generateOodSets({ outDir: dir, seed: 777_002, count: 3, categories: ['anatomy'] });
  const rows = fs.readFileSync(path.join(dir, 'ood.csv'), 'utf8').trim().split('\n').slice(1);
  for (const row of rows) {
    const result = await unsearched.classify(fs.readFileSync(path.join(dir, row.split(',')[0]!)));
    t.is(result.triage.level, 'AMBER', row);
    t.false(result.ood!.inDistribution, row);
    t.regex(result.triage.reason, /^outside what the model was trained on — review/);
  }
});
