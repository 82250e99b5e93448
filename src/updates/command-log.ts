import type { Db } from '../store/database.js';

/** How far a command got: `received` (resumed after a restart), `testing`, `done` (never acted on again). */
export type CommandPhase = 'received' | 'testing' | 'done';

/**
 * The model commands this device has taken up, in the history database, so that a retained
 * command coming again at every connect, or after a restart, is not acted on twice, and an
 * older one delivered late (a broker's queue) does not undo a newer one.
 */
export class CommandLog {
  private readonly selectPhase;
  private readonly selectNewer;
  private readonly upsert;

  constructor(db: Db) {
    this.selectPhase = db.prepare('SELECT phase FROM model_commands WHERE id = ?');
    this.selectNewer = db.prepare('SELECT 1 FROM model_commands WHERE issued_ms > ? LIMIT 1');
    this.upsert = db.prepare(
      `INSERT INTO model_commands (id, issued_ms, phase, updated_at) VALUES (@id, @issuedMs, @phase, @at)
       ON CONFLICT (id) DO UPDATE SET phase = excluded.phase, updated_at = excluded.updated_at`,
    );
  }

  phaseOf(commandId: string): CommandPhase | undefined {
    return (this.selectPhase.get(commandId) as { phase: CommandPhase } | undefined)?.phase;
  }

  /** Whether a command issued after `issuedAt` has been taken up. */
  hasNewerThan(issuedAt: string): boolean {
    return this.selectNewer.get(Date.parse(issuedAt)) !== undefined;
  }

  /** `issuedAt` is unknown for a command that could not be read. */
  record(commandId: string, phase: CommandPhase, issuedAt?: string): void {
    this.upsert.run({ id: commandId, issuedMs: issuedAt === undefined ? null : Date.parse(issuedAt), phase, at: new Date().toISOString() });
  }
}
