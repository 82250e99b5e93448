import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { keyIdOf } from '../../src/model/signature.js';
import { grayImage } from '../../src/tools/fixtures/images.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { configEnv, MODEL_ID, workspace } from '../helpers/fixtures.js';

test('keygen writes a private key only its owner can read and a public key, prints the key id, and never overwrites', async (t) => {
  const { root } = workspace(t);
  const out = path.join(root, 'keys/fleet');
  const run = await runCli(['model', 'keygen', '--out', out]);
  t.is(run.code, 0, run.stderr);
  const publicKey = crypto.createPublicKey(fs.readFileSync(`${out}.pub`));
  t.is(publicKey.asymmetricKeyType, 'ed25519');
  t.is(crypto.createPrivateKey(fs.readFileSync(`${out}.key`)).asymmetricKeyType, 'ed25519');
  t.is(fs.statSync(`${out}.key`).mode & 0o777, 0o600);
  t.regex(run.stdout, new RegExp(`^key id ${keyIdOf(publicKey)}\n`));

  const before = fs.readFileSync(`${out}.key`);
  const again = await runCli(['model', 'keygen', '--out', out]);
  t.is(again.code, 64);
  t.regex(again.stderr, /fleet\.key already exists; keygen never overwrites a key/);
  t.true(fs.readFileSync(`${out}.key`).equals(before));
});

test('model references, then sign, then verify through the CLI; a changed file or another key is refused with exit 2', async (t) => {
  const { root, config } = workspace(t);
  const env = configEnv(config);
  const modelDir = path.join(config.model.dir, MODEL_ID);
  const normal = path.join(root, 'normal.png');
  const fracture = path.join(root, 'fracture.png');
  fs.writeFileSync(normal, await grayImage(230));
  fs.writeFileSync(fracture, await grayImage(115));
  for (const name of ['fleet', 'other']) t.is((await runCli(['model', 'keygen', '--out', path.join(root, name)])).code, 0);
  const fleetId = keyIdOf(crypto.createPublicKey(fs.readFileSync(path.join(root, 'fleet.pub'))));

  const references = await runCli(['model', 'references', modelDir, normal, fracture], env);
  t.is(references.code, 0, references.stderr);
  t.regex(references.stdout, /reference\/normal\.png\s+GREEN\s+normal/);
  t.regex(references.stdout, /reference\/fracture\.png\s+RED\s+fracture/);

  const sign = await runCli(['model', 'sign', modelDir, '--key', path.join(root, 'fleet.key')]);
  t.is(sign.code, 0, sign.stderr);
  const manifestSha256 = crypto.createHash('sha256').update(fs.readFileSync(path.join(modelDir, 'manifest.json'))).digest('hex');
  t.regex(sign.stdout, new RegExp(`with key ${fleetId}\nmanifest sha256 ${manifestSha256}\n`));

  const verify = await runCli(['model', 'verify', modelDir, '--trusted', path.join(root, 'fleet.pub')]);
  t.is(verify.code, 0, verify.stderr);
  t.regex(verify.stdout, new RegExp(`^signature ok: key ${fleetId} .*manifest sha256 ${manifestSha256}`));
  t.regex(verify.stdout, /\n {2}ok {7}model\.onnx\n {2}ok {7}reference\/normal\.png\n {2}ok {7}reference\/fracture\.png\n/);
  // Without --trusted: the configuration's model.trustedKeys.
  const trustedEnv = { ...env, CSPINE_MODEL__TRUSTED_KEYS: JSON.stringify([path.join(root, 'fleet.pub')]) };
  t.is((await runCli(['model', 'verify', modelDir], trustedEnv)).code, 0);

  const untrusted = await runCli(['model', 'verify', modelDir, '--trusted', path.join(root, 'other.pub')]);
  t.is(untrusted.code, 2);
  t.regex(untrusted.stderr, /^refused: E_MODEL_KEY_UNTRUSTED: /);

  // The device, configured to trust the key, says so in doctor.
  const doctor = await runCli(['doctor', '--json'], trustedEnv);
  t.like(
    jsonLines(doctor.stdout).find((check) => check.name === 'model signature'),
    { status: 'ok', detail: `signed by ${fleetId} and trusted (${path.join(root, 'fleet.pub')})` },
  );

  // A reference image changed after signing: the signature still holds, the file does not.
  fs.writeFileSync(path.join(modelDir, 'reference/fracture.png'), await grayImage(30));
  const tampered = await runCli(['model', 'verify', modelDir, '--trusted', path.join(root, 'fleet.pub')]);
  t.is(tampered.code, 2);
  t.regex(tampered.stdout, /\n {2}MISMATCH reference\/fracture\.png\n/);
  t.regex(tampered.stderr, /^refused: E_MODEL_HASH_MISMATCH: .*reference\/fracture\.png/);
  // Nobody signs a broken package: the old signature stays as it was.
  const signature = fs.readFileSync(path.join(modelDir, 'manifest.sig'));
  const signBroken = await runCli(['model', 'sign', modelDir, '--key', path.join(root, 'fleet.key')]);
  t.is(signBroken.code, 1);
  t.regex(signBroken.stderr, /E_MODEL_HASH_MISMATCH/);
  t.true(fs.readFileSync(path.join(modelDir, 'manifest.sig')).equals(signature));

  // Recording references again changes the manifest: the stale signature goes, and the device refuses the package until it is signed again.
  const rerecord = await runCli(['model', 'references', modelDir, normal], env);
  t.is(rerecord.code, 0, rerecord.stderr);
  t.regex(rerecord.stdout, /removed the now stale manifest\.sig: sign again/);
  const unsigned = await runCli(['model', 'verify', modelDir, '--trusted', path.join(root, 'fleet.pub')]);
  t.is(unsigned.code, 2);
  t.regex(unsigned.stderr, /^refused: E_MODEL_UNSIGNED: /);
  const doctorUnsigned = await runCli(['doctor', '--json'], trustedEnv);
  t.like(jsonLines(doctorUnsigned.stdout).find((check) => check.name === 'model signature'), { status: 'fail' });
  t.regex(String(jsonLines(doctorUnsigned.stdout).find((check) => check.name === 'model signature')?.detail), /^E_MODEL_UNSIGNED: /);
});

test('verify and sign say what they need', async (t) => {
  const { root, config } = workspace(t);
  const modelDir = path.join(config.model.dir, MODEL_ID);
  const noKeys = await runCli(['model', 'verify', modelDir], configEnv(config));
  t.is(noKeys.code, 64);
  t.regex(noKeys.stderr, /no key to verify against: give --trusted KEY\.pub or set model\.trustedKeys/);
  const noKey = await runCli(['model', 'sign', modelDir]);
  t.is(noKey.code, 64);
  t.regex(noKey.stderr, /usage: cspine-edge model sign MODEL_DIR --key NAME\.key/);
  fs.writeFileSync(path.join(root, 'junk.key'), 'not a key');
  const junk = await runCli(['model', 'sign', modelDir, '--key', path.join(root, 'junk.key')]);
  t.is(junk.code, 1);
  t.regex(junk.stderr, /E_MODEL_KEY_INVALID: .*junk\.key is not a private key in PEM/);
  t.false(fs.existsSync(path.join(modelDir, 'manifest.sig')));
});
