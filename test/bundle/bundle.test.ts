/**
 * `npm run bundle` for this machine's CPU, for real (npm ci from the local cache, the addons
 * compiled from source), then the tarball as a device would get it: extracted elsewhere,
 * checked with sha256sum, run with its own node_modules only.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collect, jsonLines, runCli, type CliRun } from '../helpers/cli.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARCH = process.arch;
/** How `file` names this CPU in an ELF description. */
const FILE_MACHINE: Record<string, string> = { x64: 'x86-64', arm64: 'ARM aarch64' };
const { name, version } = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const TOP = `${name}-${version}-linux-${ARCH}`;

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'cspine-bundle-test-'));
const bundle = path.join(work, 'extracted', TOP);
/** The bundle's own environment: nothing may reach back into the checkout. */
const bundleEnv = { ...process.env };
delete bundleEnv.NODE_PATH;
delete bundleEnv.NODE_OPTIONS;

function exec(program: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  return collect(spawn(program, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

function inBundle(args: string[]): Promise<CliRun> {
  return exec(process.execPath, args, bundle, bundleEnv);
}

async function filesBelow(root: string, relative = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await fs.readdir(path.join(root, relative), { withFileTypes: true })) {
    const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
    files.push(...(entry.isDirectory() ? await filesBelow(root, child) : [child]));
  }
  return files;
}

test.before(async (t) => {
  // Compiling better-sqlite3 alone takes about a minute on two cores.
  t.timeout(10 * 60_000);
  const out = path.join(work, 'out');
  const built = await exec('npm', ['run', 'bundle', '--', '--arch', ARCH, '--out', out], ROOT);
  t.log(built.stderr.trim());
  if (built.code !== 0) throw new Error(`npm run bundle failed (exit ${built.code})`);
  const tarball = path.join(out, `${TOP}.tar.gz`);
  // The last line: path, size, SHA-256.
  t.true(built.stdout.trim().endsWith(`sha256 ${createHash('sha256').update(await fs.readFile(tarball)).digest('hex')}`), built.stdout);
  await fs.mkdir(path.join(work, 'extracted'));
  const extracted = await exec('tar', ['-xzf', tarball, '-C', path.join(work, 'extracted')], work);
  if (extracted.code !== 0) throw new Error(`tar -x failed: ${extracted.stderr}`);
  t.log(`built in ${(built.wallMs / 1000).toFixed(1)} s; ${((await fs.stat(tarball)).size / 2 ** 20).toFixed(1)} MiB`);
});

test.after.always(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test.serial('one top directory with the runtime, its dependencies, the model package and deploy/', async (t) => {
  t.deepEqual(await fs.readdir(path.join(work, 'extracted')), [TOP]);
  const entries = (await fs.readdir(bundle)).sort();
  t.deepEqual(entries, ['BUNDLE.json', 'SHA256SUMS', 'assets', 'deploy', 'dist', 'models', 'node_modules', 'package-lock.json', 'package.json', 'schemas']);
  t.true((await fs.readdir(path.join(bundle, 'deploy'))).length > 0);
  const info = JSON.parse(await fs.readFile(path.join(bundle, 'BUNDLE.json'), 'utf8')) as Record<string, unknown>;
  t.like(info, { name, version, arch: ARCH, platform: 'linux', nodeAbi: Number(process.versions.modules), omittedOptional: [] });
  t.false('nodeVersion' in info);
  t.regex(String(info.gitCommit), /^[0-9a-f]{40}$/);
  t.regex(String((info.requires as { glibc?: string }).glibc), /^2\.\d+$/);
  // The model as shipped: the file its manifest vouches for.
  const manifest = JSON.parse(await fs.readFile(path.join(bundle, 'models/cspine-alexnet-demo/manifest.json'), 'utf8')) as { file: string; sha256: string };
  t.is(createHash('sha256').update(await fs.readFile(path.join(bundle, 'models/cspine-alexnet-demo', manifest.file))).digest('hex'), manifest.sha256);
  const devOnly = ['typescript', 'ava', 'tsx', 'esbuild'];
  for (const dev of devOnly) await t.throwsAsync(fs.access(path.join(bundle, 'node_modules', dev)), undefined, `${dev} is a dev dependency`);
});

test.serial('SHA256SUMS lists every file but itself, and sha256sum -c passes', async (t) => {
  const listed = (await fs.readFile(path.join(bundle, 'SHA256SUMS'), 'utf8')).trimEnd().split('\n').map((line) => line.slice(66));
  t.deepEqual(listed.sort(), (await filesBelow(bundle)).filter((file) => file !== 'SHA256SUMS').sort());
  const info = JSON.parse(await fs.readFile(path.join(bundle, 'BUNDLE.json'), 'utf8')) as { files: number };
  t.is(info.files, listed.length - 1, 'BUNDLE.json counts the files but itself');
  const check = await exec('sha256sum', ['-c', '--strict', '--quiet', 'SHA256SUMS'], bundle);
  t.is(check.code, 0, check.stdout + check.stderr);
});

test.serial(`only binaries for linux-${ARCH}: no Windows, macOS or other-CPU files`, async (t) => {
  const files = (await filesBelow(bundle)).sort();
  t.deepEqual(
    files.filter((file) => /(^|\/)(win32|darwin)(\/|$)|\.(dll|dylib|exe)$/i.test(file)),
    [],
  );
  const ortBin = path.join(bundle, 'node_modules/onnxruntime-node/bin');
  for (const napi of await fs.readdir(ortBin)) {
    t.deepEqual(await fs.readdir(path.join(ortBin, napi)), ['linux']);
    t.deepEqual(await fs.readdir(path.join(ortBin, napi, 'linux')), [ARCH]);
  }
  const list = path.join(work, 'file-list');
  await fs.writeFile(list, `${files.join('\n')}\n`);
  const described = await exec('file', ['-N', '-0', '-f', list], bundle);
  t.is(described.code, 0, described.stderr);
  const binaries = described.stdout
    .trimEnd()
    .split('\n')
    .map((line) => ({ file: line.slice(0, line.indexOf('\0')), description: line.slice(line.indexOf('\0') + 1).replace(/^:\s*/, '') }))
    .filter(({ description }) => /ELF|Mach-O|PE32|MS-DOS|COFF/.test(description));
  t.log(binaries.map(({ file }) => file).join('\n'));
  // sharp + libvips, ONNX Runtime's binding + library, better-sqlite3, epoll at least.
  t.true(binaries.length >= 6, `${binaries.length} binaries`);
  t.deepEqual(
    binaries.filter(({ description }) => !(description.startsWith('ELF') && description.includes(FILE_MACHINE[ARCH]!))),
    [],
  );
});

test.serial('run from the extracted directory alone, classify gives the labels the checkout gives', async (t) => {
  const phantoms = path.join(work, 'phantoms');
  const synth = await inBundle(['dist/cli.js', 'synth', '--out', phantoms, '--count', '3', '--seed', '5']);
  t.is(synth.code, 0, synth.stderr);
  const images = (await filesBelow(phantoms)).filter((file) => file.endsWith('.png')).map((file) => path.join(phantoms, file));
  t.is(images.length, 3);
  const fromBundle = await inBundle(['dist/cli.js', 'classify', ...images, '--json']);
  const fromCheckout = await runCli(['classify', ...images, '--json']);
  t.is(fromBundle.code, 0, fromBundle.stderr);
  t.is(fromCheckout.code, 0, fromCheckout.stderr);
  const answers = (run: CliRun) => jsonLines(run.stdout).map(({ file, label, triage }) => ({ file, label, level: (triage as { level: string }).level }));
  t.deepEqual(answers(fromBundle), answers(fromCheckout));
  t.deepEqual(answers(fromBundle).map(({ label }) => label).sort(), ['dislocation', 'fracture', 'normal']);

  const database = path.join(work, 'history.db');
  const sqlite = await inBundle([
    '-e',
    "const db = new (require('better-sqlite3'))(process.argv[1]); db.exec('create table t (x)'); db.prepare('insert into t values (?)').run(42); console.log(db.prepare('select x from t').get().x)",
    database,
  ]);
  t.is(sqlite.stdout.trim(), '42', sqlite.stderr);
});

test.serial('a file changed after bundling fails sha256sum -c', async (t) => {
  await fs.appendFile(path.join(bundle, 'dist/cli.js'), '\n');
  const check = await exec('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], bundle);
  t.not(check.code, 0);
  t.regex(check.stdout, /^dist\/cli\.js: FAILED$/m);
});
