import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { CspineError } from '../../src/errors.js';
import { sha256Hex } from '../../src/hash.js';
import { signManifest } from '../../src/model/signature.js';
import { brightnessModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';
import { fetchPackage } from '../../src/updates/fetch-package.js';
import { PackageStore, updatesDir } from '../../src/updates/package-store.js';
import { capturedLogger, listFiles, tempDir } from '../helpers/fixtures.js';
import { writeSigningKeys } from '../helpers/signed-packages.js';
import { requestedFiles, startUpdateServer } from '../helpers/update-server.js';

/** A package with an int8 default and an fp32 variant, signed by `signer` (unsigned when undefined). */
function dashboardPackage(root: string, signer: string | undefined) {
  const fp32 = Buffer.from(brightnessModel(24, 3, { cam: true }));
  const dir = writeModelPackage(path.join(root, 'dashboard'), {
    id: 'bright-v2',
    onnx: brightnessModel(24),
    size: 24,
    overrides: {
      variants: {
        int8: { file: 'model.onnx', sha256: sha256Hex(Buffer.from(brightnessModel(24))) },
        fp32: { file: 'model.fp32.onnx', sha256: sha256Hex(fp32) },
      },
    },
  });
  fs.writeFileSync(path.join(dir, 'model.fp32.onnx'), fp32);
  if (signer) signManifest(dir, signer);
  return dir;
}

async function setup(t: ExecutionContext, options: { signedBy?: 'trusted' | 'stranger' | 'nobody'; updates?: NonNullable<ConfigInput['updates']> } = {}) {
  const root = tempDir(t);
  const trusted = writeSigningKeys(root, 'fleet');
  const stranger = writeSigningKeys(root, 'stranger');
  const signer = { trusted: trusted.privateFile, stranger: stranger.privateFile, nobody: undefined }[options.signedBy ?? 'trusted'];
  const dir = dashboardPackage(root, signer);
  const server = await startUpdateServer(t);
  const wanted = server.addPackage(dir);
  const config = configSchema.parse({
    store: { path: path.join(root, 'data/cspine.db') },
    model: { trustedKeys: [trusted.publicFile] },
    updates: { enabled: true, url: server.url, chunkBytes: 4096, retryMinMs: 10, retryMaxMs: 50, ...options.updates },
  });
  const store = new PackageStore(updatesDir(config));
  const progress: Array<[number, number]> = [];
  const fetch = (overrides: Partial<Parameters<typeof fetchPackage>[0]> = {}) =>
    fetchPackage({ wanted, baseUrl: server.url, token: server.token, config, store, signal: new AbortController().signal, logger: capturedLogger().logger, onProgress: (done, total) => progress.push([done, total]), ...overrides });
  return { root, dir, server, wanted, config, store, progress, fetch };
}

async function refusal(promise: Promise<unknown>): Promise<CspineError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof CspineError)) throw new Error(`expected a refusal, got ${String(error)}`);
  return error;
}

test('a signed package is fetched, verified and moved to packages/<sha>/: the running variant, and the others the command offers', async (t) => {
  const { dir, server, wanted, store, progress, fetch } = await setup(t);
  const received = await fetch({ wanted: { ...wanted, files: wanted.files.filter(({ name }) => name === 'model.onnx') } });
  t.is(received.dir, store.installed(wanted.manifestSha256));
  t.is(received.modelId, 'bright-v2');
  t.deepEqual(requestedFiles(server), ['manifest.json', 'manifest.sig', 'model.onnx'], 'the fp32 variant is neither run here nor offered');
  t.deepEqual(listFiles(received.dir), ['manifest.json', 'manifest.sig', 'model.onnx']);
  t.true(fs.readFileSync(path.join(received.dir, 'model.onnx')).equals(fs.readFileSync(path.join(dir, 'model.onnx'))));
  t.deepEqual(listFiles(path.join(store.root, 'incoming')), []);
  const total = wanted.files.find(({ name }) => name === 'model.onnx')!.bytes;
  t.deepEqual(progress.at(-1), [total, total]);

  const offered = await setup(t);
  await offered.fetch();
  t.deepEqual(requestedFiles(offered.server), ['manifest.json', 'manifest.sig', 'model.onnx', 'model.fp32.onnx']);
});

test('a package received before is used again without fetching it', async (t) => {
  const { server, fetch } = await setup(t);
  await fetch();
  const asked = server.requests.length;
  await fetch();
  t.is(server.requests.length, asked);
});

for (const [name, updates, code] of [
  ['larger than updates.maxPackageBytes', { maxPackageBytes: 10 }, 'E_UPDATE_TOO_LARGE'],
  ['leaving less than updates.minFreeBytes free', { minFreeBytes: Number.MAX_SAFE_INTEGER }, 'E_UPDATE_NO_SPACE'],
] as const) {
  test(`a package ${name} is refused before any model file is fetched (${code})`, async (t) => {
    const { server, store, wanted, fetch } = await setup(t, { updates });
    t.is((await refusal(fetch())).code, code);
    t.deepEqual(requestedFiles(server), ['manifest.json', 'manifest.sig']);
    t.false(fs.existsSync(store.incoming(wanted.manifestSha256)), 'nothing is kept');
  });
}

for (const [signedBy, code] of [
  ['nobody', 'E_MODEL_UNSIGNED'],
  ['stranger', 'E_MODEL_KEY_UNTRUSTED'],
] as const) {
  test(`a package signed by ${signedBy} is refused before any model file is fetched (${code})`, async (t) => {
    const { server, fetch } = await setup(t, { signedBy });
    t.is((await refusal(fetch())).code, code);
    t.deepEqual(requestedFiles(server), ['manifest.json', 'manifest.sig']);
  });
}

test('a manifest changed after signing is refused before any model file is fetched (E_MODEL_SIGNATURE_INVALID)', async (t) => {
  const { root, server, fetch } = await setup(t);
  // Signed by the trusted key, then one threshold changed: the signature no longer covers it.
  const dir = dashboardPackage(path.join(root, 'tampered'), path.join(root, 'fleet.key'));
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...manifest, triage: { greenMinNormal: 0.1 } }));
  const wanted = server.addPackage(dir);
  t.is((await refusal(fetch({ wanted }))).code, 'E_MODEL_SIGNATURE_INVALID');
  t.false(server.requests.some(({ file }) => file.endsWith('.onnx')));
});
