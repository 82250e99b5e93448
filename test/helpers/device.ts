import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { openDatabase } from '../../src/store/database.js';
import { History } from '../../src/store/history.js';
import { Outbox } from '../../src/store/outbox.js';
import { loadSiteSecret, Pseudonymizer } from '../../src/privacy/pseudonymizer.js';
import { MqttPublisher } from '../../src/sync/publisher.js';
import type { TestBroker } from './brokers.js';
import { capturedLogger, tempDir } from './fixtures.js';

export const DEVICE_ID = 'ambulance-7';

/** Settings for a device syncing to `broker`, with quick reconnects for tests. */
export function syncConfig(root: string, broker: Pick<TestBroker, 'url' | 'protocolVersion'>, overrides: NonNullable<ConfigInput['sync']>['mqtt'] = {}, rest: ConfigInput = {}): Config {
  return configSchema.parse({
    deviceId: DEVICE_ID,
    ...rest,
    store: { path: path.join(root, 'data/cspine.db') },
    privacy: { siteSecretFile: path.join(root, 'data/site-secret') },
    sync: {
      ...rest.sync,
      mqtt: { enabled: true, url: broker.url, protocolVersion: broker.protocolVersion, reconnectMinMs: 50, reconnectMaxMs: 400, keepaliveSec: 5, ...overrides },
    },
  });
}

/** A device's database, outbox and publisher in this process. */
export function inProcessDevice(t: ExecutionContext, broker: Pick<TestBroker, 'url' | 'protocolVersion'>, overrides: NonNullable<ConfigInput['sync']>['mqtt'] = {}, rest: ConfigInput = {}) {
  const root = tempDir(t);
  const config = syncConfig(root, broker, overrides, rest);
  const db = openDatabase(config.store.path);
  const outbox = new Outbox(db);
  const history = new History(db, outbox);
  const log = capturedLogger();
  const pseudonymizer = new Pseudonymizer(loadSiteSecret(config.privacy.siteSecretFile));
  const publisher = new MqttPublisher(config, outbox, history, { deviceId: DEVICE_ID, pseudonymizer, sendIdentifiers: false }, log.logger);
  t.teardown(async () => {
    await publisher.stop();
    db.close();
  });
  return { root, config, db, outbox, history, publisher, log };
}

/** Outbox message ids in the order they were queued. */
export function queuedIds(history: History, count: number): string[] {
  return history
    .recent(count)
    .reverse()
    .map((entry) => entry.delivery!.messageId);
}
