import fs from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { Config } from '../config/schema.js';

/**
 * mqtt.js options from the config: identity, persistent session, TLS and credentials (read
 * from files at connect time, never logged). Reconnection is ours, so mqtt.js's is off.
 */
export function connectionOptions(config: Config, deviceId: string, clientId = config.sync.mqtt.clientId ?? deviceId): IClientOptions {
  const settings = config.sync.mqtt;
  const password = settings.passwordFile ? fs.readFileSync(settings.passwordFile, 'utf8').trim() : settings.password;
  return {
    clientId,
    protocolVersion: settings.protocolVersion,
    // Persistent session (docs/mqtt.md): messages to an offline box wait at the broker.
    clean: false,
    keepalive: settings.keepaliveSec,
    connectTimeout: settings.connectTimeoutMs,
    reconnectPeriod: 0,
    queueQoSZero: false,
    ...(settings.protocolVersion === 5 ? { properties: { sessionExpiryInterval: settings.sessionExpirySec } } : {}),
    ...(settings.username !== undefined ? { username: settings.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(settings.tls.ca ? { ca: fs.readFileSync(settings.tls.ca) } : {}),
    ...(settings.tls.cert ? { cert: fs.readFileSync(settings.tls.cert) } : {}),
    ...(settings.tls.key ? { key: fs.readFileSync(settings.tls.key) } : {}),
    rejectUnauthorized: settings.tls.rejectUnauthorized,
  };
}
