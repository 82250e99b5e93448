import fs from 'node:fs/promises';
import { run } from './process.js';

export type Arch = 'x64' | 'arm64';

export interface Target {
  arch: Arch;
  /** GNU triple of Debian's cross toolchain (aarch64-linux-gnu-gcc …). */
  triple: string;
  /** Debian spells x86_64 with a dash in its package names (gcc-x86-64-linux-gnu). */
  aptCompilers: string;
  /** ELF e_machine of this CPU: a binary with another one cannot run there. */
  elfMachine: number;
}

const TARGETS: Record<Arch, Target> = {
  x64: { arch: 'x64', triple: 'x86_64-linux-gnu', aptCompilers: 'gcc-x86-64-linux-gnu g++-x86-64-linux-gnu', elfMachine: 62 },
  arm64: { arch: 'arm64', triple: 'aarch64-linux-gnu', aptCompilers: 'gcc-aarch64-linux-gnu g++-aarch64-linux-gnu', elfMachine: 183 },
};

export function isArch(value: string): value is Arch {
  return Object.hasOwn(TARGETS, value);
}

export function target(arch: Arch): Target {
  return TARGETS[arch];
}

/** What a file is, from its first bytes; undefined for anything that is not a native binary. */
export type BinaryKind = { format: 'ELF'; machine: number } | { format: 'Mach-O' } | { format: 'PE' };

const MACH_O_MAGICS = new Set([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe, 0xbebafeca]);

export async function binaryKind(file: string): Promise<BinaryKind | undefined> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead < 20) return undefined;
    if (head.readUInt32BE(0) === 0x7f454c46) {
      const littleEndian = head[5] === 1;
      return { format: 'ELF', machine: littleEndian ? head.readUInt16LE(18) : head.readUInt16BE(18) };
    }
    if (MACH_O_MAGICS.has(head.readUInt32BE(0))) return { format: 'Mach-O' };
    // "MZ" alone is too weak (a text file may start with it): a PE image has "PE\0\0" where e_lfanew points.
    if (head.toString('latin1', 0, 2) === 'MZ' && bytesRead >= 64) {
      const signature = Buffer.alloc(4);
      const { bytesRead: read } = await handle.read(signature, 0, 4, head.readUInt32LE(0x3c));
      if (read === 4 && signature.toString('latin1') === 'PE\0\0') return { format: 'PE' };
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

/** A binary that cannot run on linux-<arch>: Windows or macOS images, or ELF for another CPU. */
export function isForeign(kind: BinaryKind | undefined, on: Target): kind is BinaryKind {
  return kind !== undefined && !(kind.format === 'ELF' && kind.machine === on.elfMachine);
}

export function describeKind(kind: BinaryKind): string {
  return kind.format === 'ELF' ? `ELF for e_machine ${kind.machine}` : kind.format;
}

/** The newest GLIBC_ and GLIBCXX_ symbol versions some binary asks for: the oldest glibc and libstdc++ a device may have. */
export interface LibcNeeds {
  glibc: string | undefined;
  glibcxx: string | undefined;
}

export async function libcNeeds(files: readonly string[]): Promise<LibcNeeds> {
  const needs: LibcNeeds = { glibc: undefined, glibcxx: undefined };
  for (const file of files) {
    const versions = await run(`readelf -V ${file}`, 'readelf', ['-V', '--wide', file]);
    for (const [, library, version] of versions.matchAll(/\b(GLIBC|GLIBCXX)_(\d+(?:\.\d+)*)\b/g)) {
      const key = library === 'GLIBC' ? 'glibc' : 'glibcxx';
      if (newer(version!, needs[key])) needs[key] = version;
    }
  }
  return needs;
}

function newer(version: string, than: string | undefined): boolean {
  if (than === undefined) return true;
  const a = version.split('.').map(Number);
  const b = than.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference > 0;
  }
  return false;
}
