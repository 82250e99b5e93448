import crypto from 'node:crypto';
import type { PackageFileEntry } from './package-store.js';

/** schemas/model-command.v1.json: what the dashboard tells one device to do. */
export interface ModelCommand {
  schema: 'cspine.model-command.v1';
  id: string;
  deviceId: string;
  issuedAt: string;
  action: 'install' | 'rollback';
  rolloutId: string;
  package?: { manifestSha256: string; modelId: string; totalBytes: number; files: PackageFileEntry[] };
  download?: { token: string };
}

/** Retained, so a device offline now finds its newest command when it connects. */
export function commandTopic(topicPrefix: string, deviceId: string): string {
  return `${topicPrefix}/${deviceId}/command/model`;
}

/** A download token: 32 random bytes, base64url. Only its hash is kept; the device gets it once, in its command. */
export function newDownloadToken(): { token: string; sha256: string } {
  const token = crypto.randomBytes(32).toString('base64url');
  return { token, sha256: tokenSha256(token) };
}

export function tokenSha256(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

export interface InstallOrder {
  commandId: string;
  deviceId: string;
  rolloutId: string;
  token: string;
  package: { manifestSha256: string; modelId: string; totalBytes: number; files: PackageFileEntry[] };
}

export function installCommand(order: InstallOrder, issuedAt = new Date()): ModelCommand {
  return {
    schema: 'cspine.model-command.v1',
    id: order.commandId,
    deviceId: order.deviceId,
    issuedAt: issuedAt.toISOString(),
    action: 'install',
    rolloutId: order.rolloutId,
    package: order.package,
    download: { token: order.token },
  };
}

export function rollbackCommand(order: { commandId: string; deviceId: string; rolloutId: string }, issuedAt = new Date()): ModelCommand {
  return { schema: 'cspine.model-command.v1', id: order.commandId, deviceId: order.deviceId, issuedAt: issuedAt.toISOString(), action: 'rollback', rolloutId: order.rolloutId };
}
