/**
 * `npm run bundle -- [--arch x64|arm64] [--node [--node-version X.Y.Z]] [--out DIR]`: one
 * tarball that installs cspine-edge on a linux-<arch> device with no network (docs/install.md).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sha256File, writeChecksums } from './checksums.js';
import { checkPlatformPackages, dropForeignBinaries, productionPackages } from './dependencies.js';
import { buildAddon, buildTools, findAddons, nodeHeaders, type NodeHeaders } from './native.js';
import { BundleError, listFiles, npm, run, which } from './process.js';
import { binaryKind, describeKind, isArch, isForeign, libcNeeds, target, type LibcNeeds, type Target } from './target.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL_PACKAGE = 'models/cspine-alexnet-demo';
/** Copied as they are in the checkout; deploy/ is whatever it holds at bundle time. */
const COPIED = ['assets', 'schemas', 'deploy', 'package.json', 'package-lock.json'];

const USAGE = `usage: npm run bundle -- [--arch x64|arm64] [--node [--node-version X.Y.Z]] [--out DIR]
  --arch ARCH          the device's CPU (default: this machine's, ${process.arch})
  --node               add the Node.js binary for ARCH (npm package node-linux-ARCH) as node/bin/node
  --node-version V     that Node.js version (implies --node; default: the version of the headers
                       the addons are compiled against; same major line, so same ABI)
  --out DIR            where the tarball goes (default: bundles/)`;

interface Options {
  on: Target;
  node: boolean;
  nodeVersion: string | undefined;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      arch: { type: 'string', default: process.arch },
      node: { type: 'boolean', default: false },
      'node-version': { type: 'string' },
      out: { type: 'string', default: path.join(ROOT, 'bundles') },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (!isArch(values.arch)) throw new BundleError(`--arch ${values.arch}: bundles are for x64 or arm64\n${USAGE}`);
  const version = values['node-version'];
  if (version !== undefined && !/^\d+\.\d+\.\d+$/.test(version)) throw new BundleError(`--node-version ${version}: expected X.Y.Z, e.g. 20.19.6`);
  return { on: target(values.arch), node: values.node || version !== undefined, nodeVersion: version, out: path.resolve(values.out) };
}

function log(line: string): void {
  process.stderr.write(`bundle: ${line}\n`);
}

/** One step of the build, announced when it starts and timed when it ends (with what it made, when `summary` says). */
async function step<T>(what: string, work: () => Promise<T>, summary?: (result: T) => string): Promise<T> {
  log(`${what} …`);
  const started = performance.now();
  const result = await work();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  log(`${what}: ${seconds} s${summary === undefined ? '' : `, ${summary(result)}`}`);
  return result;
}

/** Promise.all that waits for both before failing: the work directory goes only once nothing writes to it. */
async function bothSettled<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === 'rejected') throw first.reason;
  if (second.status === 'rejected') throw second.reason;
  return [first.value, second.value];
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

interface Plan {
  headers: NodeHeaders;
  /** The Node.js to bundle, if any. */
  nodeVersion: string | undefined;
}

/** Everything that is missing or at odds is named at once, with the Debian packages that bring it, before any work. */
async function preflight(options: Options): Promise<Plan> {
  const tools: Array<[string, string]> = [
    ['git', 'git'],
    ['tar', 'tar'],
    ['gzip', 'gzip'],
    ['readelf', 'binutils'],
    ...buildTools(options.on),
  ];
  const missing = new Map<string, string[]>();
  for (const [program, aptPackage] of tools) {
    if ((await which(program)) === undefined) missing.set(aptPackage, [...(missing.get(aptPackage) ?? []), program]);
  }
  if (missing.size > 0) {
    const lines = [...missing].map(([aptPackage, programs]) => `  ${programs.join(', ')}: apt-get install ${aptPackage}`);
    throw new BundleError(`cannot build a linux-${options.on.arch} bundle here; missing:\n${lines.join('\n')}`);
  }
  const headers = await nodeHeaders();
  const nodeVersion = options.node ? (options.nodeVersion ?? headers.version) : undefined;
  if (nodeVersion !== undefined) {
    const [major] = headers.version.split('.') as [string];
    if (nodeVersion.split('.')[0] !== major) {
      throw new BundleError(`--node-version ${nodeVersion}: the addons are compiled against Node.js ${headers.version}'s headers (ABI ${headers.abi}); a Node.js of another major line would not load them`);
    }
    const spec = nodePackage(options.on, nodeVersion);
    await npm(['view', spec, 'version', '--prefer-offline']).catch((error: unknown) => {
      throw error instanceof BundleError ? new BundleError(`${error.message}\n(the Node.js ${major} versions there: npm view ${nodePackage(options.on, major)} version)`) : error;
    });
  }
  return { headers, nodeVersion };
}

async function git(args: string[]): Promise<string> {
  return run(`git ${args[0]}`, 'git', args, { cwd: ROOT });
}

async function copyProject(stage: string): Promise<number> {
  for (const entry of COPIED) await fs.cp(path.join(ROOT, entry), path.join(stage, entry), { recursive: true });
  // The model package as git has it: models/ may also hold variants that are not shipped (.gitignore).
  const modelFiles = (await git(['ls-files', '-z', '--', MODEL_PACKAGE])).split('\0').filter((file) => file !== '');
  if (modelFiles.length === 0) throw new BundleError(`git tracks no files under ${MODEL_PACKAGE}`);
  for (const file of modelFiles) {
    await fs.mkdir(path.dirname(path.join(stage, file)), { recursive: true });
    await fs.copyFile(path.join(ROOT, file), path.join(stage, file));
  }
  return modelFiles.length;
}

async function compile(stage: string): Promise<void> {
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  await fs.access(tsc).catch(() => {
    throw new BundleError(`${tsc} is missing: run npm ci first (TypeScript is a dev dependency)`);
  });
  // No source maps: src/ is not in the bundle for them to point at.
  await run('tsc', process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(stage, 'dist'), '--sourceMap', 'false']);
}

/**
 * The production dependencies for linux-<arch>, as the lockfile pins them, from npm's cache where
 * it has them. No install scripts: the addons are built for the target afterwards, and
 * onnxruntime-node's would download CUDA.
 */
async function installDependencies(stage: string, on: Target): Promise<void> {
  const args = ['ci', `--prefix=${stage}`, '--omit=dev', '--os=linux', `--cpu=${on.arch}`, '--libc=glibc', '--ignore-scripts', '--prefer-offline', '--engine-strict', '--no-audit', '--no-fund'];
  await npm(args, { cwd: stage });
  // Command shims (symbolic links) for the command line; nothing at run time uses them.
  await fs.rm(path.join(stage, 'node_modules/.bin'), { recursive: true, force: true });
}

interface Omitted {
  name: string;
  reason: string;
}

async function buildAddons(stage: string, on: Target, headers: NodeHeaders): Promise<Omitted[]> {
  const manifest = JSON.parse(await fs.readFile(path.join(stage, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  const addons = await findAddons(stage, await productionPackages(path.join(stage, 'package-lock.json')), manifest.allowScripts ?? {});
  const omitted: Omitted[] = [];
  for (const addon of addons) {
    try {
      await step(`build ${addon.name}@${addon.version} for linux-${on.arch} (Node.js ${headers.version} headers, ABI ${headers.abi})`, () => buildAddon(addon, on, headers), (files) =>
        files.map((file) => path.relative(stage, file)).join(', '),
      );
    } catch (error) {
      if (!(error instanceof BundleError) || !addon.optional) throw error;
      // As npm does with an optional dependency that fails to build: leave it out, say so.
      const lines = error.message.split('\n');
      const reason = [lines[0]?.replace(/:$/, ''), lines.find((line) => /error|cannot find/i.test(line))?.replace(/^\s*\|\s*/, '')].filter((line) => line !== undefined).join(': ');
      log(`WARNING: ${addon.name} (an optional dependency) is left out of the bundle: ${reason}`);
      await fs.rm(addon.dir, { recursive: true });
      omitted.push({ name: addon.name, reason });
    }
  }
  return omitted;
}

/** The npm registry's package of the official Node.js build for the target. */
function nodePackage(on: Target, version: string): string {
  return `node-linux-${on.arch}@${version}`;
}

/** node/bin/node from the npm registry (preflight made sure it has that version), with its licence. */
async function addNode(work: string, stage: string, on: Target, version: string): Promise<void> {
  const spec = nodePackage(on, version);
  const packed = await npm(['pack', spec, `--pack-destination=${work}`, '--prefer-offline', '--json'], { cwd: work });
  const [tgz] = JSON.parse(packed) as Array<{ filename: string }>;
  if (tgz === undefined) throw new BundleError(`npm pack ${spec} wrote no tarball`);
  await run(`unpacking ${tgz.filename}`, 'tar', ['-xzf', path.join(work, tgz.filename), '-C', work, 'package/bin/node', 'package/LICENSE']);
  await fs.mkdir(path.join(stage, 'node/bin'), { recursive: true });
  await fs.rename(path.join(work, 'package/bin/node'), path.join(stage, 'node/bin/node'));
  await fs.rename(path.join(work, 'package/LICENSE'), path.join(stage, 'node/LICENSE'));
}

/**
 * The last word on "for the target only": every native binary in the bundle, node/bin/node
 * included. Resolves to how many there are and the C and C++ runtimes they need.
 */
async function checkBinaries(stage: string, on: Target): Promise<{ count: number; needs: LibcNeeds }> {
  const binaries: string[] = [];
  const foreign: string[] = [];
  for (const file of await listFiles(stage)) {
    const kind = await binaryKind(path.join(stage, file));
    if (kind === undefined) continue;
    binaries.push(path.join(stage, file));
    if (isForeign(kind, on)) foreign.push(`${file} (${describeKind(kind)})`);
  }
  if (foreign.length > 0) throw new BundleError(`binaries that cannot run on linux-${on.arch}:\n  ${foreign.join('\n  ')}`);
  return { count: binaries.length, needs: await libcNeeds(binaries) };
}

interface Manifest {
  name: string;
  version: string;
}

async function describe(stage: string, manifest: Manifest, on: Target, { headers, nodeVersion }: Plan, needs: LibcNeeds, omitted: Omitted[]): Promise<{ files: number; bytes: number }> {
  const payload = await listFiles(stage);
  let bytes = 0;
  for (const file of payload) bytes += (await fs.stat(path.join(stage, file))).size;
  const commit = (await git(['rev-parse', 'HEAD'])).trim();
  // --no-optional-locks: asking must not rewrite the checkout's index.
  const dirty = (await git(['--no-optional-locks', 'status', '--porcelain', '--untracked-files=no'])).trim() !== '';
  const bundle = {
    name: manifest.name,
    version: manifest.version,
    arch: on.arch,
    platform: 'linux',
    nodeAbi: headers.abi,
    nodeHeaders: headers.version,
    // Addons compiled here need this machine's glibc and libstdc++ or newer on the device.
    requires: needs,
    ...(nodeVersion === undefined ? {} : { nodeVersion }),
    gitCommit: commit,
    gitDirty: dirty,
    createdAt: new Date().toISOString(),
    // The payload: every file but BUNDLE.json and SHA256SUMS.
    files: payload.length,
    bytes,
    omittedOptional: omitted,
  };
  await fs.writeFile(path.join(stage, 'BUNDLE.json'), `${JSON.stringify(bundle, null, 2)}\n`);
  return { files: payload.length, bytes };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const { on } = options;
  const manifest = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;
  const top = `${manifest.name}-${manifest.version}-linux-${on.arch}`;
  const tarball = path.join(options.out, `${top}.tar.gz`);
  const plan = await step(`check the tools for linux-${on.arch}`, () => preflight(options), ({ headers }) => `Node.js ${headers.version} headers in ${headers.dir}`);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'cspine-bundle-'));
  try {
    const stage = path.join(work, top);
    await step(`copy ${COPIED.join(', ')}, ${MODEL_PACKAGE}`, () => copyProject(stage), (count) => `${count} model package files`);
    // tsc and the addon compilers each keep one core busy: side by side they take the time of the longer.
    const [omitted] = await bothSettled(
      step(`npm ci: production dependencies for linux-${on.arch}`, () => installDependencies(stage, on)).then(() => buildAddons(stage, on, plan.headers)),
      step('compile src/ into dist/', () => compile(stage)),
    );
    await step(
      'drop binaries for other platforms, check the platform packages',
      async () => ({ dropped: await dropForeignBinaries(path.join(stage, 'node_modules'), on), platformPackages: await checkPlatformPackages(stage, await productionPackages(path.join(stage, 'package-lock.json')), on) }),
      ({ dropped, platformPackages }) =>
        `${[...dropped].map(([name, { files, bytes }]) => `${name}: ${files} files, ${mib(bytes)}`).join('; ') || 'none found'}; platform packages: ${platformPackages.join(', ')}`,
    );
    const { nodeVersion } = plan;
    if (nodeVersion !== undefined) await step(`add Node.js ${nodeVersion} for linux-${on.arch}`, () => addNode(work, stage, on, nodeVersion));
    const { needs } = await step(`check every binary is for linux-${on.arch}`, () => checkBinaries(stage, on), ({ count, needs: { glibc, glibcxx } }) => `${count} binaries; they need glibc ≥ ${glibc}, libstdc++ with GLIBCXX_${glibcxx}`);
    await step('write BUNDLE.json and SHA256SUMS', async () => ({ ...(await describe(stage, manifest, on, plan, needs, omitted)), listed: await writeChecksums(stage) }), ({ files, bytes, listed }) => `${files} files, ${mib(bytes)}; ${listed} checksums`);
    await step(`pack ${path.basename(tarball)}`, async () => {
      await fs.mkdir(options.out, { recursive: true });
      const partial = `${tarball}.partial`;
      await run('tar', 'tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', partial, '-C', work, top]);
      await fs.rename(partial, tarball);
    });
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  const { size } = await fs.stat(tarball);
  process.stdout.write(`${tarball} ${size} bytes (${mib(size)}) sha256 ${await sha256File(tarball)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bundle: ${error instanceof BundleError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
