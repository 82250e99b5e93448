import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode } from '../errors.js';
import { sameVersion, type FileVersion } from './intake.js';
import type { Logger } from '../logger.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';
import type { EventBus } from '../runtime/event-bus.js';

export interface ReadyFile {
  name: string;
  path: string;
  /** When the file was judged completely written. */
  readyAt: Date;
}

/** A file handed out by the folder; it is not offered again until released. */
export interface ClaimedFile extends ReadyFile {
  /** Done with it (gone from the folder, or to be offered again by the next scan). */
  release(): void;
  /** Still being written after all: watch it again until it is steady. */
  recheck(): void;
}

/** Where claimed files go (the image pipeline). */
export interface IntakeSink {
  offer(file: ClaimedFile): void;
}

export interface CaptureFolderOptions {
  dir: string;
  stableWindowMs: number;
  rescanIntervalMs: number;
  sink: IntakeSink;
  bus: EventBus;
  logger: Logger;
  /** Whether a model takes images now; while none does, files wait untouched (`modelChanged` on the bus). */
  modelReady: () => boolean;
}

/** Partial uploads and editor droppings: never treated as images. */
export function isIgnoredName(name: string): boolean {
  return name.startsWith('.') || /\.(part|tmp|crdownload|partial|swp)$/i.test(name) || name.endsWith('~');
}

/** With `stableWindowMs: 0` a file found still changing is looked at again this soon, not at once. */
const MIN_RECHECK_MS = 100;
/** A file sent back by the pipeline must stay unchanged this long (or the window, if longer). */
const RECHECK_STEADY_MS = 1000;

/** A file under observation; `seen` is empty until its first stat comes back. */
interface Pending {
  seen?: FileVersion;
  timer?: NodeJS.Timeout;
}

/**
 * Watches the top level of the capture folder with inotify (fs.watch) and hands each file to
 * the sink once it is completely written: its size and mtime unchanged over `stableWindowMs`,
 * or its mtime already that old when first seen (a finished file moved in, or the backlog at
 * start). A file handed out stays claimed until released. While no model takes images the
 * folder is still watched (and made again if it vanishes) but nothing is handed out.
 * A folder that cannot be watched raises a `capture` fault on the bus, cleared when it can.
 */
export class CaptureFolder implements Capability {
  readonly name = 'capture folder';
  readonly dir: string;
  private watcher: fs.FSWatcher | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly claimed = new Set<string>();
  private stopped = true;
  private paused = true;
  private recovering = false;
  private problem: Error | undefined;

  constructor(private readonly options: CaptureFolderOptions) {
    this.dir = options.dir;
    options.bus.on('modelChanged', this, (model) => {
      if (model) this.resume();
      else this.paused = true;
    });
  }

  async start(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    this.stopped = false;
    this.paused = !this.options.modelReady();
    this.watch();
    if (this.options.rescanIntervalMs > 0) {
      this.rescanTimer = setInterval(() => this.scan(), this.options.rescanIntervalMs);
      this.rescanTimer.unref();
    }
    this.scan();
  }

  health(): CapabilityHealth {
    if (this.stopped) return { status: 'off', detail: 'not watching' };
    if (this.problem) return { status: 'failed', detail: `${this.dir} cannot be watched: ${this.problem.message}` };
    return { status: this.paused ? 'degraded' : 'ok', detail: `watching ${this.dir}${this.paused ? '; files wait until a model is ready' : ''}; ${this.claimed.size} in the pipeline` };
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.scan();
  }

  private watch(): void {
    this.watcher = fs.watch(this.dir, { persistent: true }, (_event, name) => {
      if (name) this.consider(name.toString());
      else this.scan();
    });
    this.watcher.on('error', (error) => this.failed(error));
  }

  private failed(error: Error): void {
    this.problem = error;
    this.options.bus.emit('faultRaised', {
      kind: 'capture',
      code: ErrorCode.CAPTURE_FOLDER_FAILED,
      message: `capture folder ${this.dir} cannot be watched: ${error.message}`,
    });
  }

  private recovered(): void {
    if (!this.problem) return;
    this.problem = undefined;
    this.options.bus.emit('faultCleared', 'capture');
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
      if (error) return this.failed(error);
      this.options.logger.warn({ dir: this.dir }, 'capture folder was gone; made it again and watching it');
      this.watch();
      this.recovered();
      this.scan();
    });
  }

  /** Files already handed out are the sink's to finish and release. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.rescanTimer);
    for (const { timer } of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }

  /** Looks at every entry again: the backlog at start, and a safety net for lost events. */
  scan(): void {
    if (this.stopped) return;
    fs.readdir(this.dir, (error, names) => {
      if (error?.code === 'ENOENT') return this.recover();
      if (error) return this.failed(error);
      for (const name of names.sort()) this.consider(name);
    });
  }

  private consider(name: string): void {
    if (this.stopped || this.paused || isIgnoredName(name) || this.claimed.has(name) || this.pending.has(name)) return;
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
      if (this.stopped || this.paused || this.claimed.has(name)) return;
      if (error) {
        if (error.code !== 'ENOENT') this.options.logger.warn({ file: name, err: error.message }, 'cannot stat file in capture folder');
        else if (!fs.existsSync(this.dir)) this.recover();
        return;
      }
      // Symlinks are handed on at once: intake checks where they lead before reading anything.
      if (!stats.isFile() && !stats.isSymbolicLink()) {
        if (!stats.isDirectory()) this.options.logger.warn({ file: name }, 'ignoring capture entry that is not a regular file');
        return;
      }
      // Whole milliseconds on both sides: a file written earlier in this same millisecond must
      // not look written in the future (it would then wait for a recheck with a window of 0).
      const quietFor = Date.now() - Math.floor(stats.mtimeMs);
      const unchanged = before !== undefined && sameVersion(before, stats);
      if (stats.isSymbolicLink() || unchanged || (before === undefined && quietFor >= this.options.stableWindowMs)) {
        this.claimed.add(name);
        this.recovered();
        this.options.sink.offer({ name, path: full, readyAt: new Date(), release: () => this.claimed.delete(name), recheck: () => this.recheck(name) });
        return;
      }
      this.watchUntilSteady(name, { size: stats.size, mtimeMs: stats.mtimeMs });
    });
  }

  private watchUntilSteady(name: string, seen: FileVersion, steadyMs = MIN_RECHECK_MS): void {
    const timer = setTimeout(() => this.check(name), Math.max(this.options.stableWindowMs, steadyMs));
    this.pending.set(name, { seen, timer });
  }

  /** Released and watched again: it is handed out once it has stopped changing. */
  private recheck(name: string): void {
    this.claimed.delete(name);
    if (this.stopped || this.pending.has(name)) return;
    this.pending.set(name, {});
    fs.lstat(path.join(this.dir, name), (error, stats) => {
      this.pending.delete(name);
      if (error) return; // gone meanwhile: nothing to wait for
      this.watchUntilSteady(name, { size: stats.size, mtimeMs: stats.mtimeMs }, RECHECK_STEADY_MS);
    });
  }
}
