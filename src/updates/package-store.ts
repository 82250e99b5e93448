import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { CspineError, ErrorCode } from '../errors.js';
import { syncFolder } from './sync-folder.js';

/** `updates.dir`, or `updates/` beside the history database. */
export function updatesDir(config: Config): string {
  return path.resolve(config.updates.dir || path.join(path.dirname(config.store.path), 'updates'));
}

/**
 * The folders received packages live in, each named by its manifest SHA-256: `incoming/<sha>/`
 * while it downloads (`.part` files resume there after a restart), `packages/<sha>/` once every
 * file is verified. A package is never used from `incoming/`.
 */
export class PackageStore {
  constructor(readonly root: string) {}

  incoming(manifestSha256: string): string {
    return path.join(this.root, 'incoming', manifestSha256);
  }

  installed(manifestSha256: string): string {
    return path.join(this.root, 'packages', manifestSha256);
  }

  /** `name` (from a verified manifest) inside `dir`; refuses one that would leave it. */
  fileIn(dir: string, name: string): string {
    const file = path.resolve(dir, name);
    if (!file.startsWith(`${path.resolve(dir)}${path.sep}`)) throw new CspineError(ErrorCode.MODEL_MANIFEST_INVALID, `package file name ${JSON.stringify(name)} points outside the package`);
    return file;
  }

  /** Moves a verified download into `packages/` with one rename (atomic on one filesystem). */
  promote(manifestSha256: string): string {
    const target = this.installed(manifestSha256);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(this.incoming(manifestSha256), target);
    syncFolder(path.dirname(target));
    return target;
  }

  /** Drops downloads left by commands that were replaced or failed, except `keep`'s. */
  dropIncoming(keep?: string): void {
    this.removeAllBut(path.join(this.root, 'incoming'), keep === undefined ? [] : [this.incoming(keep)]);
  }

  remove(dir: string): void {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  /** Removes installed packages other than `keep` (the active and the previous one). Returns what it removed. */
  prune(keep: readonly string[]): string[] {
    return this.removeAllBut(path.join(this.root, 'packages'), keep);
  }

  private removeAllBut(parent: string, keep: readonly string[]): string[] {
    const kept = new Set(keep.map((dir) => path.resolve(dir)));
    const entries = fs.existsSync(parent) ? fs.readdirSync(parent) : [];
    const removed = entries.map((name) => path.join(parent, name)).filter((dir) => !kept.has(path.resolve(dir)));
    for (const dir of removed) this.remove(dir);
    return removed;
  }
}
