import type { Config } from '../config/schema.js';
import { DashboardDatabase } from '../dashboard/database/database.js';
import { createLogger, type Logger } from '../logger.js';
import { UsageError } from './options.js';

/** The dashboard's commands say what they did on stdout; their log shows warnings only, unless asked for more. */
export function commandLogger(config: Config): Logger {
  return createLogger(config.log.level === 'info' ? 'warn' : config.log.level);
}

/** Runs `work` with the dashboard's database started (and migrated), and stops it after. */
export async function withDashboardDatabase<T>(config: Config, logger: Logger, work: (database: DashboardDatabase) => Promise<T>): Promise<T> {
  const database = new DashboardDatabase(config.dashboard.postgres, logger);
  await database.start();
  try {
    return await work(database);
  } finally {
    await database.stop();
  }
}

/** Left-aligned columns two spaces apart, a header line first. */
export function textTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const format = (row: readonly string[]) => `${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`;
  return format(header) + rows.map(format).join('');
}

/** MiB with one decimal: model packages are tens of MB. */
export function mebibytes(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** `2026-11-26 23:50:12` from an ISO time: UTC, to the second. */
export function utcSeconds(iso: string): string {
  return iso.slice(0, 19).replace('T', ' ');
}

/** The operand at `index` (after the action), or a usage error naming it. */
export function operand(positionals: readonly string[], index: number, what: string): string {
  const value = positionals[index];
  if (value === undefined) throw new UsageError(`missing ${what}`);
  return value;
}
