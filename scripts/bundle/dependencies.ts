import fs from 'node:fs/promises';
import path from 'node:path';
import { BundleError, listFiles, removeEmptyDirectories } from './process.js';
import { binaryKind, isForeign, type Target } from './target.js';

export interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

/** The installed tree as package-lock.json describes it: "node_modules/…" keys, dev-only packages left out. */
export async function productionPackages(lockfile: string): Promise<Map<string, LockEntry>> {
  const lock = JSON.parse(await fs.readFile(lockfile, 'utf8')) as { packages?: Record<string, LockEntry> };
  return new Map(Object.entries(lock.packages ?? {}).filter(([key, entry]) => key !== '' && entry.dev !== true));
}

export function packageName(key: string): string {
  const marker = 'node_modules/';
  return key.slice(key.lastIndexOf(marker) + marker.length);
}

/** npm's reading of an os/cpu/libc list: names allow, "!name" denies, no list allows all. */
function allows(list: string[] | undefined, value: string): boolean {
  if (list === undefined || list.length === 0) return true;
  if (list.includes(`!${value}`)) return false;
  const allowed = list.filter((item) => !item.startsWith('!'));
  return allowed.length === 0 || allowed.includes(value);
}

/**
 * The platform packages (sharp's @img/* among them) must be exactly the target's: an npm that
 * ignored --os/--cpu/--libc would install the host's and the bundle would fail on the device.
 */
export async function checkPlatformPackages(stage: string, packages: Map<string, LockEntry>, on: Target): Promise<string[]> {
  const installed: string[] = [];
  const problems: string[] = [];
  for (const [key, entry] of packages) {
    if (entry.os === undefined && entry.cpu === undefined && entry.libc === undefined) continue;
    const wanted = allows(entry.os, 'linux') && allows(entry.cpu, on.arch) && allows(entry.libc, 'glibc');
    const present = await exists(path.join(stage, key, 'package.json'));
    if (wanted && !present) problems.push(`${key} (for linux-${on.arch}) is missing`);
    if (!wanted && present) problems.push(`${key} (os ${entry.os?.join(',') ?? 'any'}, cpu ${entry.cpu?.join(',') ?? 'any'}) should not be there`);
    if (wanted && present) installed.push(packageName(key));
  }
  if (problems.length > 0) throw new BundleError(`npm ci did not install the packages for linux-${on.arch} (npm ≥ 11 with --os/--cpu/--libc needed):\n  ${problems.join('\n  ')}`);
  return installed;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/** The innermost package a path below node_modules/ belongs to ("@img/sharp-linux-x64/lib/x.node" → "@img/sharp-linux-x64"). */
function owningPackage(relative: string): string {
  const parts = relative.split('/');
  let owner = '';
  for (let i = 0; i < parts.length; ) {
    const length = parts[i]!.startsWith('@') ? 2 : 1;
    owner = parts.slice(i, i + length).join('/');
    i += length;
    if (parts[i] !== 'node_modules') break;
    i += 1;
  }
  return owner;
}

export interface Dropped {
  files: number;
  bytes: number;
}

/**
 * Deletes the binaries that cannot run on the target, per package: onnxruntime-node, for one,
 * ships its Windows, macOS and both Linux builds in one package.
 */
export async function dropForeignBinaries(nodeModules: string, on: Target): Promise<Map<string, Dropped>> {
  const dropped = new Map<string, Dropped>();
  for (const relative of await listFiles(nodeModules)) {
    const file = path.join(nodeModules, relative);
    if (!isForeign(await binaryKind(file), on)) continue;
    const owner = owningPackage(relative);
    const tally = dropped.get(owner) ?? { files: 0, bytes: 0 };
    tally.files += 1;
    tally.bytes += (await fs.stat(file)).size;
    dropped.set(owner, tally);
    await fs.rm(file);
  }
  await removeEmptyDirectories(nodeModules);
  return dropped;
}
