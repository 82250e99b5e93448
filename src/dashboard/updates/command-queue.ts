import crypto from 'node:crypto';
import type pg from 'pg';
import { CHANNEL } from '../database/channels.js';
import { installCommand, newDownloadToken, rollbackCommand, type ModelCommand } from './model-commands.js';
import type { PackageFileEntry } from './package-store.js';

/**
 * How long a claimed command stays with the process that claimed it without a renewal: well
 * above the sweep interval, at which the lease is renewed.
 */
export const LEASE_MS = 60_000;

export interface ClaimedCommand {
  action: 'install' | 'rollback';
  rolloutId: string;
  deviceId: string;
  command: ModelCommand;
}

interface DueRow {
  rollout_id: string;
  device_id: string;
  rollout_state: string;
  command_id: string;
  token_sha256: string | null;
  rollback_command_id: string | null;
  manifest_sha256: string;
  model_id: string;
  total_bytes: string;
  files: PackageFileEntry[];
}

// Due: an install of a rollout in progress whose stage has begun, or the rollback of a rolled-back
// rollout, whose lease is free (nobody publishes it now, or whoever did stopped renewing).
// The rollout rows are share-locked, so a halt or rollback being committed is waited for and
// then seen; the devices' rows are skipped when another process is claiming them.
const DUE = `
  SELECT d.rollout_id, d.device_id, r.state AS rollout_state, d.command_id, d.token_sha256, d.rollback_command_id,
         p.manifest_sha256, p.model_id, p.total_bytes, p.files
    FROM rollout_devices d
    JOIN rollouts r ON r.id = d.rollout_id
    JOIN model_packages p ON p.manifest_sha256 = r.package_sha256
   WHERE (d.issued_at IS NULL OR d.issued_at < now() - make_interval(secs => $1))
     AND (   (d.state = 'pending' AND (r.state = 'rolling' OR (r.state = 'canary' AND d.stage = 'canary')))
          OR (r.state = 'rolled-back' AND d.rollback_command_id IS NOT NULL AND d.rollback_sent_at IS NULL))
   ORDER BY r.created_at, d.device_id
   LIMIT $2
   FOR UPDATE OF d SKIP LOCKED
   FOR SHARE OF r`;

/**
 * The commands waiting to go out, shared by every dashboard process (and the CLI) through
 * leases in rollout_devices: a process claims a command (issued_by, issued_at), renews the
 * lease while it waits for the broker's PUBACK, and records it as sent; a command whose lease
 * runs out (its process died) is claimed again by another.
 */
export class CommandQueue {
  constructor(
    private readonly database: { readonly pool: pg.Pool },
    /** Who holds the leases: the dashboard instance, or the CLI process. */
    private readonly owner: string,
    private readonly leaseMs = LEASE_MS,
  ) {}

  /**
   * Claims up to `limit` due commands. An install claimed for the first time keeps the command
   * id its row was made with; claimed again, it gets a new id and a new token: the earlier
   * command may have reached the broker and a device, and a device acts once per id, so only a
   * new id makes it take the new token.
   */
  async claim(limit: number): Promise<ClaimedCommand[]> {
    const client = await this.database.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<DueRow>(DUE, [this.leaseMs / 1000, limit]);
      const claimed: ClaimedCommand[] = [];
      const leases = { rollouts: [] as string[], devices: [] as string[], commands: [] as Array<string | null>, tokens: [] as Array<string | null> };
      for (const row of rows) {
        leases.rollouts.push(row.rollout_id);
        leases.devices.push(row.device_id);
        if (row.rollout_state === 'rolled-back') {
          leases.commands.push(null);
          leases.tokens.push(null);
          claimed.push({ action: 'rollback', rolloutId: row.rollout_id, deviceId: row.device_id, command: rollbackCommand({ commandId: row.rollback_command_id!, deviceId: row.device_id, rolloutId: row.rollout_id }) });
          continue;
        }
        const commandId = row.token_sha256 === null ? row.command_id : crypto.randomUUID();
        const { token, sha256 } = newDownloadToken();
        leases.commands.push(commandId);
        leases.tokens.push(sha256);
        claimed.push({
          action: 'install',
          rolloutId: row.rollout_id,
          deviceId: row.device_id,
          command: installCommand({
            commandId,
            deviceId: row.device_id,
            rolloutId: row.rollout_id,
            token,
            package: { manifestSha256: row.manifest_sha256, modelId: row.model_id, totalBytes: Number(row.total_bytes), files: row.files },
          }),
        });
      }
      if (rows.length > 0) {
        await client.query(
          `UPDATE rollout_devices d SET issued_by = $1, issued_at = now(),
                  command_id = coalesce(c.command_id, d.command_id), token_sha256 = coalesce(c.token_sha256, d.token_sha256)
             FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::text[]) AS c(rollout_id, device_id, command_id, token_sha256)
            WHERE d.rollout_id = c.rollout_id AND d.device_id = c.device_id`,
          [this.owner, leases.rollouts, leases.devices, leases.commands, leases.tokens],
        );
      }
      await client.query('COMMIT');
      return claimed;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** The broker has it (PUBACK): the device gets it, now or when it connects. Frees the lease. */
  async markSent(claimed: ClaimedCommand): Promise<void> {
    const sql =
      claimed.action === 'install'
        ? `UPDATE rollout_devices SET state = CASE WHEN state = 'pending' THEN 'sent' ELSE state END, sent_at = now(), issued_by = NULL, issued_at = NULL
            WHERE command_id = $1`
        : `UPDATE rollout_devices SET rollback_sent_at = now(), issued_by = NULL, issued_at = NULL WHERE rollback_command_id = $1`;
    await this.database.pool.query(sql, [claimed.command.id]);
    await this.database.pool.query('SELECT pg_notify($1, $2)', [CHANNEL.rollouts, claimed.rolloutId]);
  }

  /** Still publishing these: keep their leases. */
  async renew(commandIds: readonly string[]): Promise<void> {
    if (commandIds.length === 0) return;
    await this.database.pool.query(
      `UPDATE rollout_devices SET issued_at = now()
        WHERE issued_by = $1 AND (command_id = ANY($2::uuid[]) OR rollback_command_id = ANY($2::uuid[]))`,
      [this.owner, commandIds],
    );
  }

  /** Giving up on these (the CLI's time is up): any process may claim them at once. */
  async release(commandIds: readonly string[]): Promise<void> {
    if (commandIds.length === 0) return;
    await this.database.pool.query(
      `UPDATE rollout_devices SET issued_by = NULL, issued_at = NULL
        WHERE issued_by = $1 AND (command_id = ANY($2::uuid[]) OR rollback_command_id = ANY($2::uuid[]))`,
      [this.owner, commandIds],
    );
  }
}
