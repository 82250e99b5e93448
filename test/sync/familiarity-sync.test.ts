import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { SimulatedIndicators } from '../../src/indicators/simulated.js';
import type { CommitEvent } from '../../src/runtime/events.js';
import { Service } from '../../src/service.js';
import { openDatabase } from '../../src/store/database.js';
import { History } from '../../src/store/history.js';
import { generatePhantoms } from '../../src/tools/synth/generate.js';
import { generateOodSets } from '../../src/tools/synth/ood/generate.js';
import { brokerKinds, startBroker, subscriber, type BrokerKind } from '../helpers/brokers.js';
import { DEVICE_ID } from '../helpers/device.js';
import { capturedLogger, SHIPPED_MODEL, tempDir, waitFor, workspace } from '../helpers/fixtures.js';
import { assertValidPayload } from '../helpers/schemas.js';

const [kind] = brokerKinds() as [BrokerKind];

test('the gate’s measures, the detector’s verdict and an orientation correction reach history and the MQTT result', async (t) => {
  const broker = await startBroker(t, kind);
  const dashboard = await subscriber(t, broker, `cspine/v1/${DEVICE_ID}/result`);
  const { config } = workspace(t, {
    deviceId: DEVICE_ID,
    model: SHIPPED_MODEL,
    quality: { enabled: true }, // the workspace turns it off for its uniform test images
    privacy: { siteSecretFile: path.join(tempDir(t), 'site-secret') },
    sync: { mqtt: { enabled: true, url: broker.url, protocolVersion: broker.protocolVersion, reconnectMinMs: 50 } },
  });
  const service = new Service(config, capturedLogger().logger, new SimulatedIndicators());
  const committed: CommitEvent[] = [];
  service.bus.on('resultCommitted', committed, (event) => committed.push(event));
  await service.start();
  t.teardown(() => service.stop());

  const made = tempDir(t);
  await generatePhantoms({ outDir: path.join(made, 'ph'), count: 2, seed: 777_003 });
  await generateOodSets({ outDir: path.join(made, 'ood'), seed: 777_004, count: 1, categories: ['anatomy'] });
  const anatomy = fs.readFileSync(path.join(made, 'ood/ood.csv'), 'utf8').trim().split('\n')[1]!.split(',')[0]!;
  const fracture = fs.readFileSync(path.join(made, 'ph/fracture/phantom-000001.png'));
  fs.writeFileSync(path.join(config.capture.dir, 'upright.png'), fracture);
  fs.writeFileSync(path.join(config.capture.dir, 'upside-down.png'), await sharp(fracture).rotate(180).png().toBuffer());
  fs.copyFileSync(path.join(made, 'ood', anatomy), path.join(config.capture.dir, 'hand.png'));
  await waitFor(() => committed.length === 3 && dashboard.messages.length === 3, 30_000, 'three results committed and published');

  const db = openDatabase(config.store.path, { readonly: true });
  t.teardown(() => db.close());
  const entries = Object.fromEntries(new History(db).recent(10).map((entry) => [entry.source, entry]));
  t.true(entries['upright.png']!.ood!.inDistribution);
  t.is(entries['upright.png']!.orientation, null);
  t.true(entries['upright.png']!.quality!.dynamicRange > 0.2);
  t.is(entries['hand.png']!.triage.level, 'AMBER');
  t.false(entries['hand.png']!.ood!.inDistribution);
  const turned = entries['upside-down.png']!;
  t.not(turned.triage.level, 'GREEN');
  if (turned.orientation) t.like(turned.orientation, { rotated: 180, inverted: false, asReceived: { inDistribution: false } });

  for (const message of dashboard.messages) {
    assertValidPayload(t, message.payload);
    t.like(message.payload, { schema: 'cspine.result.v1', outcome: 'classified' });
    t.is(typeof (message.payload.ood as { score: number }).score, 'number');
    t.is(typeof (message.payload.quality as { dynamicRange: number }).dynamicRange, 'number');
  }
});
