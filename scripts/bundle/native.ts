import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { packageName, type LockEntry } from './dependencies.js';
import { BundleError, npm, run, which } from './process.js';
import { binaryKind, describeKind, isForeign, type Target } from './target.js';

export interface NodeHeaders {
  dir: string;
  version: string;
  /** NODE_MODULE_VERSION: an addon loads only into a Node.js with the same one (one per major line). */
  abi: number;
}

/** The headers node-gyp compiles against: npm's `nodedir`, else the tree the running node sits in (/usr for /usr/bin/node). */
export async function nodeHeaders(): Promise<NodeHeaders> {
  const configured = (await npm(['config', 'get', 'nodedir'])).trim();
  const dir = configured === '' || configured === 'undefined' || configured === 'null' ? path.resolve(path.dirname(process.execPath), '..') : configured;
  const header = path.join(dir, 'include/node/node_version.h');
  let text: string;
  try {
    text = await fs.readFile(header, 'utf8');
  } catch {
    throw new BundleError(
      `no Node.js headers at ${header}: native addons are compiled against them. Point npm at a Node.js tree that has include/node (npm config set nodedir DIR; an unpacked node-v20 tarball or NodeSource's nodejs package has them)`,
    );
  }
  // NODE_MODULE_VERSION is also defined as NODE_EMBEDDER_MODULE_VERSION, for embedders: the numeric definition is Node's own.
  const define = (name: string) => new RegExp(`^#define\\s+${name}\\s+(\\d+)\\s*$`, 'm').exec(text)?.[1];
  const [major, minor, patch, abi] = ['NODE_MAJOR_VERSION', 'NODE_MINOR_VERSION', 'NODE_PATCH_VERSION', 'NODE_MODULE_VERSION'].map(define);
  if (major === undefined || minor === undefined || patch === undefined || abi === undefined) throw new BundleError(`cannot read the version and NODE_MODULE_VERSION from ${header}`);
  return { dir, version: `${major}.${minor}.${patch}`, abi: Number(abi) };
}

/** The tools the addon builds need, each with the Debian package that brings it. */
export function buildTools(on: Target): Array<[program: string, aptPackage: string]> {
  const common: Array<[string, string]> = [
    ['make', 'make'],
    ['python3', 'python3'],
  ];
  if (on.arch === process.arch) return [...common, ['cc', 'gcc'], ['g++', 'g++']];
  return [...common, ...['gcc', 'g++', 'ar'].map((tool): [string, string] => [`${on.triple}-${tool}`, on.aptCompilers])];
}

export interface Addon {
  name: string;
  version: string;
  dir: string;
  optional: boolean;
}

/**
 * The packages with a node-gyp addon (a binding.gyp), which `npm ci --ignore-scripts` left
 * unbuilt. package.json's allowScripts decides, as it does for a development install, which of
 * them may build; one it does not mention is an error rather than a guess.
 */
export async function findAddons(stage: string, packages: Map<string, LockEntry>, allowScripts: Record<string, boolean>): Promise<Addon[]> {
  const addons: Addon[] = [];
  for (const [key, entry] of packages) {
    const dir = path.join(stage, key);
    if (!(await fs.stat(path.join(dir, 'binding.gyp')).then(() => true, () => false))) continue;
    const name = packageName(key);
    const allowed = allowScripts[name];
    if (allowed === undefined) throw new BundleError(`${name} has a native addon, but package.json's allowScripts does not say whether it may build`);
    if (allowed) addons.push({ name, version: entry.version ?? '?', dir, optional: entry.optional === true });
  }
  return addons;
}

/** npm's own node-gyp, next to the npm that runs this (npm_execpath) or the one on PATH. */
async function nodeGyp(): Promise<string> {
  const npmCli = process.env.npm_execpath ?? (await which('npm'));
  if (npmCli === undefined) throw new BundleError('npm not found on PATH (its node-gyp builds the native addons)');
  const gyp = path.join(path.dirname(await fs.realpath(npmCli)), '../node_modules/node-gyp/bin/node-gyp.js');
  await fs.access(gyp).catch(() => {
    throw new BundleError(`node-gyp not found at ${gyp}, where npm keeps it`);
  });
  return gyp;
}

/**
 * Builds an addon from source for the target (prebuild-install would download from GitHub) and
 * leaves only its build/Release/*.node, which is what `bindings` loads; resolves to those files.
 */
export async function buildAddon(addon: Addon, on: Target, headers: NodeHeaders): Promise<string[]> {
  const cross = on.arch === process.arch ? {} : { CC: `${on.triple}-gcc`, CXX: `${on.triple}-g++`, LINK: `${on.triple}-g++`, AR: `${on.triple}-ar` };
  const args = [await nodeGyp(), 'rebuild', '--release', `--arch=${on.arch}`, `--nodedir=${headers.dir}`, `--jobs=${os.availableParallelism()}`];
  await run(`building ${addon.name} for linux-${on.arch}`, process.execPath, args, { cwd: addon.dir, env: { ...process.env, ...cross } });
  const build = path.join(addon.dir, 'build');
  const release = path.join(build, 'Release');
  const outputs = (await fs.readdir(release)).filter((name) => name.endsWith('.node'));
  if (outputs.length === 0) throw new BundleError(`building ${addon.name} produced no build/Release/*.node`);
  for (const output of outputs) {
    const kind = await binaryKind(path.join(release, output));
    if (kind === undefined || isForeign(kind, on)) {
      throw new BundleError(`${addon.name}'s ${output} is ${kind === undefined ? 'not a binary' : describeKind(kind)}, not ELF for ${on.arch}: is the compiler on PATH for the target?`);
    }
  }
  for (const entry of await fs.readdir(build)) if (entry !== 'Release') await fs.rm(path.join(build, entry), { recursive: true });
  for (const entry of await fs.readdir(release)) if (!outputs.includes(entry)) await fs.rm(path.join(release, entry), { recursive: true });
  return outputs.map((output) => path.join(release, output));
}
