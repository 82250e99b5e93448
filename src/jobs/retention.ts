import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { History } from '../store/history.js';
import type { Sync } from '../sync/sync.js';
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

export interface RetentionDeps {
  config: Config;
  history: History;
  /** Undefined while sync is off: then there are no delivered events to prune. */
  sync: Pick<Sync, 'pruneEvents'> | undefined;
  logger: Logger;
}

/** The nightly housekeeping: old history, delivered events and processed images. */
export async function applyRetention({ config, history, sync, logger }: RetentionDeps): Promise<{ historyDeleted: number; eventsDeleted: number; foldersDeleted: string[] }> {
  const { historyDays, processedDays, maxDiskShare } = config.jobs;
  const day = 86_400_000;
  const historyDeleted = history.pruneBefore(new Date(Date.now() - historyDays * day));
  const eventsDeleted = sync?.pruneEvents(new Date(Date.now() - historyDays * day)) ?? 0;
  const foldersDeleted = await pruneProcessedImages(path.resolve(config.capture.processedDir), { olderThan: new Date(Date.now() - processedDays * day), maxDiskShare });
  logger.info({ historyDeleted, eventsDeleted, foldersDeleted }, 'retention applied');
  return { historyDeleted, eventsDeleted, foldersDeleted };
}
