import fs from 'node:fs';
import path from 'node:path';
import { sha256Hex } from '../hash.js';
import type { HistoryEntry } from '../store/history.js';

/** How far back a restart looks for classified images whose overlay was never drawn. */
const LOOK_BACK_MS = 24 * 3_600_000;
export const LOOK_BACK_ROWS = 2000;

/** An overlay still to draw: the image's hash, and where the file went (when known). */
export interface OwedOverlay {
  sha256: string;
  source: string;
  processedAt: string;
  path?: string | undefined;
}

/**
 * Overlays owed: every classified image's until it is drawn (the pipeline draws them only once
 * quiet, since drawing one costs about as much CPU as classifying one), and those a crash or
 * power cut prevented. Those not still held in memory are drawn from the file kept in processed/.
 */
export class OverlayDebt {
  private readonly owed: OwedOverlay[] = [];
  private readonly known = new Set<string>();

  constructor(
    private readonly overlayFile: (sha256: string) => string,
    private readonly processedDir: string,
  ) {}

  get size(): number {
    return this.owed.length;
  }

  owe(overlay: OwedOverlay): void {
    if (this.known.has(overlay.sha256)) return;
    this.known.add(overlay.sha256);
    this.owed.push(overlay);
  }

  /** At start: recent results of `modelSha256` without their overlay on disk. */
  oweMissing(recent: readonly HistoryEntry[], modelSha256: string, now = Date.now()): void {
    for (const entry of recent) {
      if (entry.outcome !== 'classified' || entry.model?.sha256 !== modelSha256) continue;
      if (now - Date.parse(entry.processedAt) > LOOK_BACK_MS) continue;
      if (!fs.existsSync(this.overlayFile(entry.sha256))) this.owe({ sha256: entry.sha256, source: entry.source, processedAt: entry.processedAt });
    }
  }

  /** The next overlay still missing on disk (a copy of an image whose overlay exists owes nothing). */
  next(): OwedOverlay | undefined {
    for (let overlay = this.owed.shift(); overlay !== undefined; overlay = this.owed.shift()) {
      this.known.delete(overlay.sha256);
      if (!fs.existsSync(this.overlayFile(overlay.sha256))) return overlay;
    }
    return undefined;
  }

  /**
   * The kept file with this content: where it was moved, or found again in processed/ by its
   * name (possibly with the suffix a name clash gave it) on the day it was processed or the next.
   */
  async bytesOf(overlay: OwedOverlay): Promise<Buffer | undefined> {
    const candidates = overlay.path ? [overlay.path] : await this.candidates(overlay);
    for (const candidate of candidates) {
      try {
        const bytes = await fs.promises.readFile(candidate);
        if (sha256Hex(bytes) === overlay.sha256) return bytes;
      } catch {
        // gone (retention, an operator): try the next
      }
    }
    return undefined;
  }

  private async candidates(overlay: OwedOverlay): Promise<string[]> {
    const day = overlay.processedAt.slice(0, 10);
    const nextDay = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const ext = path.extname(overlay.source);
    const stem = path.basename(overlay.source, ext);
    const found: string[] = [];
    for (const folder of [day, nextDay].map((d) => path.join(this.processedDir, d))) {
      let names: string[];
      try {
        names = await fs.promises.readdir(folder);
      } catch {
        continue;
      }
      for (const name of names) {
        if (name === overlay.source || (name.startsWith(`${stem}-`) && name.endsWith(ext) && name.length === overlay.source.length + 9)) found.push(path.join(folder, name));
      }
    }
    return found;
  }
}
