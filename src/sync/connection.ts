import fs from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { Config } from '../config/schema.js';

/** How to reach the broker: the fields the device's sync.mqtt and dashboard.mqtt share. */
export type BrokerConnection = Pick<
  Config['sync']['mqtt'],
  'url' | 'keepaliveSec' | 'sessionExpirySec' | 'connectTimeoutMs' | 'username' | 'password' | 'passwordFile' | 'tls'
>;

/**
 * mqtt.js options for a persistent MQTT 5 (or 3.1.1) session: identity, session expiry, TLS and
 * credentials (read from files at connect time, never logged). Reconnection is the caller's,
 * so mqtt.js's is off.
 */
export function connectionOptions(settings: BrokerConnection, clientId: string, protocolVersion: 4 | 5 = 5): IClientOptions {
  const password = settings.passwordFile ? fs.readFileSync(settings.passwordFile, 'utf8').trim() : settings.password;
  return {
    clientId,
    protocolVersion,
    // Persistent session (docs/mqtt.md): messages to an offline client wait at the broker.
    clean: false,
    keepalive: settings.keepaliveSec,
    connectTimeout: settings.connectTimeoutMs,
    reconnectPeriod: 0,
    queueQoSZero: false,
    ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: settings.sessionExpirySec } } : {}),
    ...(settings.username !== undefined ? { username: settings.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(settings.tls.ca ? { ca: fs.readFileSync(settings.tls.ca) } : {}),
    ...(settings.tls.cert ? { cert: fs.readFileSync(settings.tls.cert) } : {}),
    ...(settings.tls.key ? { key: fs.readFileSync(settings.tls.key) } : {}),
    rejectUnauthorized: settings.tls.rejectUnauthorized,
  };
}

/** The device's own connection: its client id defaults to its device id. */
export function deviceConnectionOptions(config: Config, clientId = config.sync.mqtt.clientId ?? config.deviceId): IClientOptions {
  return connectionOptions(config.sync.mqtt, clientId, config.sync.mqtt.protocolVersion);
}
