import fs from 'node:fs';
import path from 'node:path';
import { diskUsedShare } from './health.js';

const DAY_FOLDER = /^\d{4}-\d{2}-\d{2}$/;

export interface ProcessedPruneOptions {
  /** Day folders dated before this (UTC) are deleted. */
  olderThan: Date;
  /** While the disk is fuller than this, the oldest remaining day folders go too. */
  maxDiskShare: number;
  diskShare?: () => number | null;
}

/**
 * Deletes processed images by age, then by disk share, oldest day first; never today's folder
 * (a full disk must not delete the image just classified). Returns the folders removed.
 */
export async function pruneProcessedImages(processedDir: string, options: ProcessedPruneOptions): Promise<string[]> {
  let days: string[];
  try {
    days = (await fs.promises.readdir(processedDir)).filter((name) => DAY_FOLDER.test(name)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const today = new Date().toISOString().slice(0, 10);
  const cutoff = options.olderThan.toISOString().slice(0, 10);
  const diskShare = options.diskShare ?? (() => diskUsedShare(processedDir));
  const removed: string[] = [];
  for (const day of days) {
    if (day >= today) break;
    const overAge = day < cutoff;
    const overDisk = (diskShare() ?? 0) > options.maxDiskShare;
    if (!overAge && !overDisk) break;
    await fs.promises.rm(path.join(processedDir, day), { recursive: true, force: true });
    removed.push(day);
  }
  return removed;
}
