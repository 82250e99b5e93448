import type pg from 'pg';
import type { Config } from '../../config/schema.js';

export type RetentionSettings = Config['dashboard']['retention'];

export interface Pruned {
  results: number;
  events: number;
  /** Model update reports, kept as long as events: the story of each rollout. */
  updateReports: number;
  health: number;
  deadLetters: number;
  sessions: number;
}

const DAY_MS = 86_400_000;

/**
 * Deletes what is older than the configured days (results by when they were made, so a device
 * that was offline for a week keeps its week), and expired login sessions. A RED result nobody
 * acknowledged is kept past its days: it still needs a clinician.
 */
export async function pruneDashboard(pool: pg.Pool, settings: RetentionSettings, now = new Date()): Promise<Pruned> {
  const before = (days: number) => new Date(now.getTime() - days * DAY_MS);
  const count = async (sql: string, values: unknown[]) => (await pool.query(sql, values)).rowCount ?? 0;
  return {
    results: await count(`DELETE FROM results WHERE processed_at < $1 AND NOT (level = 'RED' AND acknowledged_at IS NULL)`, [before(settings.resultsDays)]),
    events: await count('DELETE FROM events WHERE at < $1', [before(settings.eventsDays)]),
    updateReports: await count('DELETE FROM update_reports WHERE at < $1', [before(settings.eventsDays)]),
    health: await count('DELETE FROM health WHERE at < $1', [before(settings.healthDays)]),
    deadLetters: await count('DELETE FROM dead_letters WHERE received_at < $1', [before(settings.deadLettersDays)]),
    sessions: await count('DELETE FROM sessions WHERE expires_at < $1', [now]),
  };
}
