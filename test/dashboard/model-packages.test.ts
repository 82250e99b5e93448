/**
 * `dashboard package add` against a real PostgreSQL: a package is verified as a device would
 * verify it (signature by a trusted key, then every file against the verified manifest) before
 * anything is stored, and stored whole or not at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { configSchema } from '../../src/config/schema.js';
import { DashboardDatabase } from '../../src/dashboard/database/database.js';
import { PackageStore } from '../../src/dashboard/updates/package-store.js';
import { CspineError, ErrorCode } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';
import { writeSigningKeys, writeTestPackage } from '../helpers/signed-packages.js';

let postgres: TemporaryPostgres;
let database: DashboardDatabase;

test.before(async () => {
  postgres = await TemporaryPostgres.create();
  database = new DashboardDatabase(configSchema.parse({ dashboard: { postgres: { url: postgres.url() } } }).dashboard.postgres, createLogger('silent'));
  await database.start();
});

test.after.always(async () => {
  await database?.stop();
  await postgres?.destroy();
});

/** A package store in its own folder, trusting one fresh key; and a package signed by it. */
function setUp(t: ExecutionContext, options: { trusted?: boolean } = {}) {
  const root = tempDir(t);
  const key = writeSigningKeys(root, 'fleet');
  const storeDir = path.join(root, 'store');
  const settings = configSchema.parse({ dashboard: { updates: { dir: storeDir, trustedKeys: options.trusted === false ? [] : [key.publicFile] } } }).dashboard.updates;
  return { root, key, storeDir, store: new PackageStore(database, settings) };
}

async function refusal(t: ExecutionContext, adding: Promise<unknown>, modelCode: string, message: RegExp): Promise<void> {
  const error = await t.throwsAsync(adding);
  t.true(error instanceof CspineError);
  t.is((error as CspineError).code, ErrorCode.DASHBOARD_PACKAGE_INVALID);
  t.is((error as CspineError).details?.modelCode, modelCode);
  t.regex(error!.message, new RegExp(`^${modelCode}: `));
  t.regex(error!.message, message);
}

/** Nothing of a refused package is left: no folder (not even a half-made one), no row. */
async function nothingStored(t: ExecutionContext, storeDir: string, manifestSha256: string): Promise<void> {
  t.deepEqual(fs.existsSync(storeDir) ? fs.readdirSync(storeDir) : [], []);
  const { rowCount } = await database.pool.query('SELECT 1 FROM model_packages WHERE manifest_sha256 = $1', [manifestSha256]);
  t.is(rowCount, 0);
}

test('a signed package is verified and stored in a folder named by its manifest SHA-256, with its row; adding it again changes nothing', async (t) => {
  const { root, key, storeDir, store } = setUp(t);
  const made = writeTestPackage(root, key);
  const { summary, added } = await store.add(made.dir, 'ada');
  t.true(added);
  t.like(summary, { manifestSha256: made.manifestSha256, modelId: 'bright', keyId: key.keyId, addedBy: 'ada' });
  t.deepEqual(summary.files.map((file) => file.name).sort(), ['model-fp32.onnx', 'model.onnx', 'reference/phantom-1.png']);
  t.is(summary.totalBytes, summary.files.reduce((sum, file) => sum + file.bytes, 0));

  const folder = path.join(storeDir, made.manifestSha256);
  t.deepEqual(fs.readdirSync(storeDir), [made.manifestSha256], 'no temporary folder left beside it');
  for (const name of ['manifest.json', 'manifest.sig', 'model.onnx', 'model-fp32.onnx', 'reference/phantom-1.png']) {
    t.deepEqual(fs.readFileSync(path.join(folder, name)), fs.readFileSync(path.join(made.dir, name)), name);
  }
  const { rows } = await database.pool.query<{ manifest: { id: string }; total_bytes: string }>('SELECT manifest, total_bytes FROM model_packages WHERE manifest_sha256 = $1', [made.manifestSha256]);
  t.is(rows[0]?.manifest.id, 'bright');
  t.is(Number(rows[0]?.total_bytes), summary.totalBytes);

  const again = await store.add(made.dir, 'bob');
  t.false(again.added);
  t.is(again.summary.addedBy, 'ada');
  t.true((await store.list()).some((found) => found.manifestSha256 === made.manifestSha256));
  t.is((await store.resolve(made.manifestSha256.slice(0, 8))).manifestSha256, made.manifestSha256);
});

test('an unsigned package is refused: E_DASHBOARD_PACKAGE_INVALID wrapping E_MODEL_UNSIGNED', async (t) => {
  const { root, storeDir, store } = setUp(t);
  const made = writeTestPackage(root, null);
  await refusal(t, store.add(made.dir, 'ada'), ErrorCode.MODEL_UNSIGNED, /has no manifest\.sig/);
  await nothingStored(t, storeDir, made.manifestSha256);
});

test('a package signed by a key the dashboard does not trust is refused: E_MODEL_KEY_UNTRUSTED', async (t) => {
  const { root, storeDir, store } = setUp(t);
  const stranger = writeSigningKeys(root, 'stranger');
  const made = writeTestPackage(root, stranger);
  await refusal(t, store.add(made.dir, 'ada'), ErrorCode.MODEL_KEY_UNTRUSTED, new RegExp(`signed by key ${stranger.keyId}`));
  await nothingStored(t, storeDir, made.manifestSha256);
});

test('a file changed after signing is refused: E_MODEL_HASH_MISMATCH; a manifest changed after signing: E_MODEL_SIGNATURE_INVALID', async (t) => {
  const { root, key, storeDir, store } = setUp(t);
  const made = writeTestPackage(root, key);
  const variant = path.join(made.dir, 'model-fp32.onnx');
  const bytes = fs.readFileSync(variant);
  bytes[100]! ^= 0xff;
  fs.writeFileSync(variant, bytes);
  await refusal(t, store.add(made.dir, 'ada'), ErrorCode.MODEL_HASH_MISMATCH, /model-fp32\.onnx has SHA-256/);

  const edited = writeTestPackage(root, key, { id: 'edited' });
  const manifestPath = path.join(edited.dir, 'manifest.json');
  fs.writeFileSync(manifestPath, fs.readFileSync(manifestPath, 'utf8').replace('"stretch"', '"letterbox"'));
  await refusal(t, store.add(edited.dir, 'ada'), ErrorCode.MODEL_SIGNATURE_INVALID, /does not match its signature/);
  await nothingStored(t, storeDir, made.manifestSha256);
});

test('a package without its default model file is refused: E_MODEL_FILE_MISSING; a left-out variant is not', async (t) => {
  const { root, key, storeDir, store } = setUp(t);
  const made = writeTestPackage(root, key);
  fs.rmSync(path.join(made.dir, 'model.onnx'));
  await refusal(t, store.add(made.dir, 'ada'), ErrorCode.MODEL_FILE_MISSING, /lacks model\.onnx/);
  await nothingStored(t, storeDir, made.manifestSha256);

  const slim = writeTestPackage(root, key, { id: 'slim' });
  fs.rmSync(path.join(slim.dir, 'model-fp32.onnx'));
  const { summary } = await store.add(slim.dir, 'ada');
  t.deepEqual(summary.files.map((file) => file.name).sort(), ['model.onnx', 'reference/phantom-1.png']);
});

test('without dashboard.updates.trustedKeys every package is refused, with what to do', async (t) => {
  const { root, key, storeDir, store } = setUp(t, { trusted: false });
  const made = writeTestPackage(root, key);
  const error = await t.throwsAsync(store.add(made.dir, 'ada'));
  t.is((error as CspineError).code, ErrorCode.DASHBOARD_PACKAGE_INVALID);
  t.regex(error!.message, /dashboard\.updates\.trustedKeys lists no key/);
  await nothingStored(t, storeDir, made.manifestSha256);
});

/** `cspine-edge dashboard package …`, the built CLI. */
const packageCommand = (args: string[], configFile: string) => runCli(['dashboard', 'package', ...args, '--config', configFile]);

test('the dashboard package command adds a package, refuses an unsigned one, and lists them', async (t) => {
  const { root, key, storeDir } = setUp(t);
  const configFile = path.join(root, 'dashboard.yaml');
  fs.writeFileSync(configFile, `dashboard:\n  postgres:\n    url: ${postgres.url()}\n  updates:\n    dir: ${storeDir}\n    trustedKeys: [${key.publicFile}]\n`);
  const made = writeTestPackage(root, key, { id: 'cli-model' });

  const added = await packageCommand(['add', made.dir], configFile);
  t.is(added.code, 0, added.stderr);
  t.regex(added.stdout, new RegExp(`^added package ${made.manifestSha256}: cli-model \\(3 files, 0\\.3 MiB, signed by key ${key.keyId}\\)$`, 'm'));

  const unsigned = writeTestPackage(root, null, { id: 'unsigned' });
  const refused = await packageCommand(['add', unsigned.dir], configFile);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^cspine-edge: E_DASHBOARD_PACKAGE_INVALID: E_MODEL_UNSIGNED: /m);

  const listed = await packageCommand(['list'], configFile);
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stdout, /^package\s+model\s+signed by\s+files\s+size\s+added \(UTC\)\s+by$/m);
  t.regex(listed.stdout, new RegExp(`^${made.manifestSha256.slice(0, 12)}\\s+cli-model\\s+${key.keyId}\\s+3\\s+0\\.3 MiB\\s+\\d{4}-`, 'm'));
});
