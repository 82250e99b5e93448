import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, ImageRejectedError } from '../errors.js';
import { sha256File, sha256Hex } from '../hash.js';

/** The file as it was when read: a later stat that differs means it was still being written. */
export interface FileVersion {
  size: number;
  mtimeMs: number;
}

/** Whether two looks at a file (a FileVersion, or fs.Stats) saw the same size and mtime. */
export function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs;
}

export type IntakeRead =
  /** Hashed by the caller, beside decoding: the hash is the one step that needs every byte. */
  | { kind: 'bytes'; bytes: Buffer; size: number; version: FileVersion }
  /** Refused before decoding; the hash still identifies it so a restart does not redo it. */
  | { kind: 'refused'; error: ImageRejectedError; sha256: string; size: number; version: FileVersion };

/**
 * Reads one captured file for classification. Never follows a symlink out of the capture
 * folder; refuses oversized files without loading them.
 */
export async function readCapturedFile(captureDir: string, name: string, maxFileBytes: number): Promise<IntakeRead> {
  const full = path.join(captureDir, name);
  const link = await fs.promises.lstat(full);
  if (link.isSymbolicLink()) {
    const target = await fs.promises.readlink(full);
    const outside = await pointsOutside(captureDir, full);
    if (outside) {
      return {
        kind: 'refused',
        sha256: sha256Hex(Buffer.from(`symlink:${target}`)),
        size: 0,
        version: { size: link.size, mtimeMs: link.mtimeMs },
        error: new ImageRejectedError(ErrorCode.SYMLINK_OUTSIDE_CAPTURE, `symbolic link to ${target} leads outside the capture folder; not followed`),
      };
    }
  }
  const handle = await fs.promises.open(full, 'r');
  try {
    const stats = await handle.stat();
    const version = { size: stats.size, mtimeMs: stats.mtimeMs };
    if (stats.size > maxFileBytes) {
      return {
        kind: 'refused',
        sha256: await sha256File(full),
        size: stats.size,
        version,
        error: new ImageRejectedError(ErrorCode.FILE_TOO_LARGE, `file is ${stats.size} bytes, over the limit of ${maxFileBytes} (capture.maxFileBytes)`),
      };
    }
    const bytes = await handle.readFile();
    return { kind: 'bytes', bytes, size: bytes.length, version };
  } finally {
    await handle.close();
  }
}

/**
 * Whether the file still is what was read. A copy still in progress (possible with
 * `capture.stableWindowMs: 0`, or a writer that pauses longer than the window) has grown or
 * been touched since; its outcome must not be recorded.
 */
export async function unchangedSinceRead(file: string, read: IntakeRead): Promise<boolean> {
  if (read.kind === 'bytes' && read.bytes.length !== read.version.size) return false;
  const link = read.kind === 'refused' && read.error.code === ErrorCode.SYMLINK_OUTSIDE_CAPTURE;
  try {
    const now = link ? await fs.promises.lstat(file) : await fs.promises.stat(file);
    return sameVersion(now, read.version);
  } catch {
    return true; // gone: nothing is still writing it
  }
}

async function pointsOutside(captureDir: string, linkPath: string): Promise<boolean> {
  const root = await fs.promises.realpath(captureDir);
  let resolved: string;
  try {
    resolved = await fs.promises.realpath(linkPath);
  } catch {
    return true; // dangling: nothing inside the folder to read
  }
  const relative = path.relative(root, resolved);
  return relative.startsWith('..') || path.isAbsolute(relative);
}

export interface DisposeOptions {
  afterCommit: 'move' | 'delete';
  processedDir: string;
  rejectedDir: string;
}

export interface RejectionNote {
  file: string;
  sha256: string;
  code: string;
  message: string;
  rejectedAt: string;
}

/**
 * Moves a classified file to processed/YYYY-MM-DD/ (UTC date) or deletes it, per config.
 * Called only after its result is committed.
 */
export async function disposeClassified(source: string, options: DisposeOptions, at: Date): Promise<string | undefined> {
  if (options.afterCommit === 'delete') {
    await fs.promises.rm(source, { force: true });
    return undefined;
  }
  return moveInto(source, path.join(options.processedDir, at.toISOString().slice(0, 10)));
}

/**
 * Quarantines a rejected file in rejected/ with `<name>.reason.json` beside it. The note is
 * written first, so a crash in between still leaves the reason once the move is redone.
 */
export async function quarantineRejected(source: string, note: RejectionNote, options: DisposeOptions): Promise<string> {
  await fs.promises.mkdir(options.rejectedDir, { recursive: true });
  const destination = await freeDestination(options.rejectedDir, path.basename(source));
  await writeFileAtomic(`${destination}.reason.json`, `${JSON.stringify(note, null, 2)}\n`);
  return moveTo(source, destination);
}

async function moveInto(source: string, dir: string): Promise<string> {
  await fs.promises.mkdir(dir, { recursive: true });
  return moveTo(source, await freeDestination(dir, path.basename(source)));
}

/** `name`, or `name-<random>.ext` when an earlier file already took `name`. */
async function freeDestination(dir: string, name: string): Promise<string> {
  const plain = path.join(dir, name);
  if (!(await exists(plain))) return plain;
  const ext = path.extname(name);
  return path.join(dir, `${path.basename(name, ext)}-${crypto.randomBytes(4).toString('hex')}${ext}`);
}

async function moveTo(source: string, destination: string): Promise<string> {
  try {
    await fs.promises.rename(source, destination);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    // Another filesystem (e.g. processed/ on USB): copy durably, then remove the original.
    await fs.promises.copyFile(source, destination);
    const handle = await fs.promises.open(destination, 'r+');
    await handle.sync();
    await handle.close();
    await fs.promises.rm(source);
  }
  return destination;
}

async function writeFileAtomic(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(temporary, text);
  await fs.promises.rename(temporary, file);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.promises.lstat(file);
    return true;
  } catch {
    return false;
  }
}
