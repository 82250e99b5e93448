import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.js';

export interface ReadyFile {
  name: string;
  path: string;
  /** When the file was judged completely written. */
  readyAt: Date;
}

export interface CaptureFolderOptions {
  stableWindowMs: number;
  rescanIntervalMs: number;
}

/** Partial uploads and editor droppings: never treated as images. */
export function isIgnoredName(name: string): boolean {
  return name.startsWith('.') || /\.(part|tmp|crdownload|partial|swp)$/i.test(name) || name.endsWith('~');
}

/** A file under observation; `seen` is empty until its first stat comes back. */
interface Pending {
  seen?: { size: number; mtimeMs: number };
  timer?: NodeJS.Timeout;
}

/**
 * Watches the top level of the capture folder with inotify (fs.watch) and reports each file
 * once it is completely written: its size and mtime unchanged over `stableWindowMs`, or its
 * mtime already that old when first seen (a finished file moved in, or the backlog at start).
 * A file handed out stays claimed until `release` — the consumer releases it once the file
 * is gone, or to have it looked at again by the next scan.
 */
export class CaptureFolder {
  private watcher: fs.FSWatcher | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly claimed = new Set<string>();
  private stopped = false;
  private recovering = false;

  /** `onError`: the folder cannot be watched (FAULT); `onRecovered`: it can again. */
  constructor(
    readonly dir: string,
    private readonly options: CaptureFolderOptions,
    private readonly onReady: (file: ReadyFile) => void,
    private readonly onError: (error: Error) => void,
    private readonly logger: Logger,
    private readonly onRecovered: () => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    this.watch();
    if (this.options.rescanIntervalMs > 0) {
      this.rescanTimer = setInterval(() => this.scan(), this.options.rescanIntervalMs);
      this.rescanTimer.unref();
    }
    this.scan();
  }

  private watch(): void {
    this.watcher = fs.watch(this.dir, { persistent: true }, (_event, name) => {
      if (name) this.consider(name.toString());
      else this.scan();
    });
    this.watcher.on('error', (error) => this.onError(error));
  }

  /**
   * The folder itself vanished (deleted, or a mount went away): make it again and watch the new
   * one. Where that fails the error is reported and the next scan tries again.
   */
  private recover(): void {
    if (this.stopped || this.recovering) return;
    this.recovering = true;
    this.watcher?.close();
    fs.mkdir(this.dir, { recursive: true }, (error) => {
      this.recovering = false;
      if (this.stopped) return;
      if (error) return this.onError(error);
      this.logger.warn({ dir: this.dir }, 'capture folder was gone; made it again and watching it');
      this.watch();
      this.onRecovered();
      this.scan();
    });
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.rescanTimer);
    for (const { timer } of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }

  release(name: string): void {
    this.claimed.delete(name);
  }

  /** Looks at every entry again: the backlog at start, and a safety net for lost events. */
  scan(): void {
    if (this.stopped) return;
    fs.readdir(this.dir, (error, names) => {
      if (error?.code === 'ENOENT') return this.recover();
      if (error) return this.onError(error);
      for (const name of names.sort()) this.consider(name);
    });
  }

  private consider(name: string): void {
    if (this.stopped || isIgnoredName(name) || this.claimed.has(name) || this.pending.has(name)) return;
    // Marked before the stat returns: inotify sends several events per write.
    this.pending.set(name, {});
    this.check(name);
  }

  private check(name: string): void {
    if (this.stopped) return;
    const full = path.join(this.dir, name);
    fs.lstat(full, (error, stats) => {
      const before = this.pending.get(name)?.seen;
      this.pending.delete(name);
      if (this.stopped || this.claimed.has(name)) return;
      if (error) {
        if (error.code !== 'ENOENT') this.logger.warn({ file: name, err: error.message }, 'cannot stat file in capture folder');
        else if (!fs.existsSync(this.dir)) this.recover();
        return;
      }
      // Symlinks are handed on at once: intake checks where they lead before reading anything.
      if (!stats.isFile() && !stats.isSymbolicLink()) {
        if (!stats.isDirectory()) this.logger.warn({ file: name }, 'ignoring capture entry that is not a regular file');
        return;
      }
      const quietFor = Date.now() - stats.mtimeMs;
      const unchanged = before !== undefined && before.size === stats.size && before.mtimeMs === stats.mtimeMs;
      if (stats.isSymbolicLink() || unchanged || (before === undefined && quietFor >= this.options.stableWindowMs)) {
        this.claimed.add(name);
        this.onReady({ name, path: full, readyAt: new Date() });
        return;
      }
      const timer = setTimeout(() => this.check(name), this.options.stableWindowMs);
      this.pending.set(name, { seen: { size: stats.size, mtimeMs: stats.mtimeMs }, timer });
    });
  }
}
