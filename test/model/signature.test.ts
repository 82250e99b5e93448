import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CspineError } from '../../src/errors.js';
import { loadModelPackage } from '../../src/model/model-package.js';
import { generateSigningKeys, keyIdOf, loadTrustedKeys, signManifest, SIGNATURE_FILE } from '../../src/model/signature.js';
import { brightnessModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';
import { tempDir } from '../helpers/fixtures.js';
import { writeSigningKeys } from '../helpers/signed-packages.js';


function signedPackage(t: ExecutionContext) {
  const root = tempDir(t);
  const dir = writeModelPackage(root, { id: 'bright', onnx: brightnessModel(), size: 16 });
  const key = writeSigningKeys(root, 'fleet');
  return { root, dir, key, signature: signManifest(dir, key.privateFile) };
}

async function loadError(dir: string, trustedFiles: string[]): Promise<CspineError> {
  const error = await loadModelPackage(dir, undefined, { trustedKeys: loadTrustedKeys(trustedFiles) }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof CspineError)) throw new Error(`expected a refusal, got ${String(error)}`);
  return error;
}

test('a package signed by a trusted key loads and says by which', async (t) => {
  const { dir, key, signature } = signedPackage(t);
  t.is(signature.keyId, key.keyId);
  t.is(signature.manifestSha256, crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, 'manifest.json'))).digest('hex'));
  const written = JSON.parse(fs.readFileSync(path.join(dir, SIGNATURE_FILE), 'utf8')) as Record<string, unknown>;
  t.like(written, { schema: 'cspine.model-signature.v1', algorithm: 'ed25519', keyId: key.keyId });

  const model = await loadModelPackage(dir, undefined, { trustedKeys: loadTrustedKeys([key.publicFile]) });
  t.is(model.signedBy, key.keyId);
  t.is(model.manifest.id, 'bright');
  // Without trusted keys nothing is checked and nobody vouches for it.
  t.is((await loadModelPackage(dir)).signedBy, undefined);
});

test('the key id is the same from either half of the key', (t) => {
  const keys = generateSigningKeys();
  t.is(keyIdOf(crypto.createPublicKey(crypto.createPrivateKey(keys.privatePem))), keys.keyId);
  t.regex(keys.keyId, /^[0-9a-f]{16}$/);
});

test('a manifest edited after signing is refused: E_MODEL_SIGNATURE_INVALID', async (t) => {
  const { dir, key } = signedPackage(t);
  const manifestPath = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { triage?: object };
  fs.writeFileSync(manifestPath, JSON.stringify({ ...manifest, triage: { greenMinNormal: 0.1 } }, null, 2));
  const error = await loadError(dir, [key.publicFile]);
  t.is(error.code, 'E_MODEL_SIGNATURE_INVALID');
  t.regex(error.message, new RegExp(`key ${key.keyId}`));
});

test('an ONNX file replaced under a valid signature is refused: E_MODEL_HASH_MISMATCH', async (t) => {
  const { dir, key } = signedPackage(t);
  fs.writeFileSync(path.join(dir, 'model.onnx'), brightnessModel(16, 3, { cam: true }));
  const error = await loadError(dir, [key.publicFile]);
  t.is(error.code, 'E_MODEL_HASH_MISMATCH');
  t.regex(error.message, /model\.onnx/);
});

test('a package signed by a key the device does not trust is refused: E_MODEL_KEY_UNTRUSTED', async (t) => {
  const { root, dir, key } = signedPackage(t);
  const other = writeSigningKeys(root, 'other');
  const error = await loadError(dir, [other.publicFile]);
  t.is(error.code, 'E_MODEL_KEY_UNTRUSTED');
  t.regex(error.message, new RegExp(`signed by key ${key.keyId}.*\\(${other.keyId}\\)`));
  // Rotation: trusting both, old and new, accepts it.
  t.is((await loadModelPackage(dir, undefined, { trustedKeys: loadTrustedKeys([other.publicFile, key.publicFile]) })).signedBy, key.keyId);
});

test('with trusted keys set, an unsigned package is refused: E_MODEL_UNSIGNED', async (t) => {
  const { dir, key } = signedPackage(t);
  fs.rmSync(path.join(dir, SIGNATURE_FILE));
  const error = await loadError(dir, [key.publicFile]);
  t.is(error.code, 'E_MODEL_UNSIGNED');
  t.regex(error.message, /cspine-edge model sign/);
});

test('a key that is not Ed25519 is refused, to sign with or to trust: E_MODEL_KEY_INVALID', (t) => {
  const root = tempDir(t);
  const dir = writeModelPackage(root, { id: 'bright', onnx: brightnessModel(), size: 16 });
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecPrivate = path.join(root, 'ec.key');
  const ecPublic = path.join(root, 'ec.pub');
  fs.writeFileSync(ecPrivate, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  fs.writeFileSync(ecPublic, publicKey.export({ type: 'spki', format: 'pem' }));
  const notPem = path.join(root, 'junk.pub');
  fs.writeFileSync(notPem, 'not a key');

  const signing = t.throws(() => signManifest(dir, ecPrivate), { instanceOf: CspineError });
  t.is(signing.code, 'E_MODEL_KEY_INVALID');
  t.regex(signing.message, /is a ec key.*Ed25519/);
  t.false(fs.existsSync(path.join(dir, SIGNATURE_FILE)));
  for (const file of [ecPublic, notPem, path.join(root, 'absent.pub')]) {
    t.is(t.throws(() => loadTrustedKeys([file]), { instanceOf: CspineError }).code, 'E_MODEL_KEY_INVALID', file);
  }
});
