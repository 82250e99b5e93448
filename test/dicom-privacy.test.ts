/**
 * Issue #6 part 5: DICOM files carry the patient's name, ID and birth date. The file itself
 * stays on the device as the clinical record; nothing else the device writes or sends may
 * hold them: not the SQLite history (its bytes on disk), not the log, not the MQTT payloads.
 * The Study and SOP Instance UIDs leave only as site-keyed pseudonyms.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { SimulatedIndicators } from '../src/indicators/simulated.js';
import { Service } from '../src/service.js';
import { openDatabase } from '../src/store/database.js';
import { History } from '../src/store/history.js';
import { loadSiteSecret, Pseudonymizer } from '../src/privacy/pseudonymizer.js';
import { brokerKinds, startBroker, subscriber, type BrokerKind } from './helpers/brokers.js';
import { DEVICE_ID } from './helpers/device.js';
import { dicomFile, pattern, SOP_CLASS } from '../src/tools/fixtures/dicom.js';
import { capturedLogger, listFiles, tempDir, waitFor, workspace } from './helpers/fixtures.js';
import { assertValidPayload } from './helpers/schemas.js';

const PATIENT = { patientName: 'KOWALSKA^ZOFIA^MARIA', patientId: 'MRN-7734921', birthDate: '19581123' };
const STUDY_UID = '1.2.826.0.1.3680043.10.1091.777.1';
const SOP_UIDS = ['1.2.826.0.1.3680043.10.1091.777.1.1', '1.2.826.0.1.3680043.10.1091.777.1.2', '1.2.826.0.1.3680043.10.1091.777.1.3'];
/** Every string that must never leave the DICOM file, in any spelling a leak could take. */
const SECRETS = ['KOWALSKA', 'ZOFIA', 'Kowalska', 'MRN-7734921', '7734921', '19581123', '1958-11-23', STUDY_UID, ...SOP_UIDS];

for (const kind of brokerKinds() as BrokerKind[]) {
  test.serial(`${kind}: a DICOM file's patient name, ID, birth date and UIDs appear in no history byte, log line or MQTT payload`, async (t) => {
    const broker = await startBroker(t, kind);
    const dashboard = await subscriber(t, broker, `cspine/v1/${DEVICE_ID}/#`);
    const secretFile = path.join(tempDir(t), 'site-secret');
    const { config } = workspace(t, {
      deviceId: DEVICE_ID,
      privacy: { siteSecretFile: secretFile },
      sync: { mqtt: { enabled: true, url: broker.url, protocolVersion: broker.protocolVersion, reconnectMinMs: 50 } },
    });
    const log = capturedLogger();
    const service = new Service(config, log.logger, new SimulatedIndicators());
    await service.start();
    let stopped = false;
    t.teardown(async () => {
      if (!stopped) await service.stop();
    });

    const bright = Uint16Array.from(pattern(64, 48, 9, 2), (v) => 3500 + v);
    const common = { rows: 64, columns: 48, bitsStored: 12, window: { center: 2048, width: 4096 }, studyUid: STUDY_UID, acquisition: { date: '20250301', time: '101502' }, ...PATIENT };
    const files: Array<[string, Buffer]> = [
      ['IM000001.dcm', dicomFile({ ...common, pixels: bright, sopInstanceUid: SOP_UIDS[0], bodyPart: 'CSPINE', viewPosition: 'LL' })],
      ['IM000002.dcm', dicomFile({ ...common, pixels: bright, sopInstanceUid: SOP_UIDS[1], bodyPart: 'CHEST', viewPosition: 'PA' })],
      ['IM000003.dcm', dicomFile({ ...common, pixels: bright, sopInstanceUid: SOP_UIDS[2], modality: 'CT', sopClassUid: SOP_CLASS.ct })],
    ];
    for (const [name, bytes] of files) fs.writeFileSync(path.join(config.capture.dir, name), bytes);
    const results = () => dashboard.messages.filter((m) => m.topic === `cspine/v1/${DEVICE_ID}/result`);
    await waitFor(() => results().length === 3, 15_000, 'three results over MQTT');
    await waitFor(() => service.health().outbox.pending === 0, 10_000, 'all delivered');

    // What the dashboard gets: valid payloads with pseudonyms and non-identifying attributes.
    const pseudonyms = new Pseudonymizer(loadSiteSecret(secretFile));
    const byInstance = new Map(results().map((m) => [(m.payload.image as { dicom: { instanceRef: string } }).dicom.instanceRef, m.payload]));
    const [lateral, chest, ct] = SOP_UIDS.map((uid) => byInstance.get(pseudonyms.ref('sop', uid))!);
    t.like(lateral, {
      outcome: 'classified',
      triage: { level: 'GREEN' },
      image: { format: 'dicom', dicom: { studyRef: pseudonyms.ref('study', STUDY_UID), modality: 'DX', bodyPart: 'CSPINE', viewPosition: 'LL', acquiredAt: '2025-03-01T10:15:02' } },
    });
    t.like(chest, { outcome: 'classified', triage: { level: 'AMBER' }, image: { dicom: { bodyPart: 'CHEST', viewPosition: 'PA' } } });
    t.regex(String((chest!.triage as { reason: string }).reason), /not a cervical-spine lateral/);
    t.like(ct, { outcome: 'rejected', error: { code: 'E_DICOM_MODALITY_UNSUPPORTED' }, image: { dicom: { modality: 'CT', studyRef: pseudonyms.ref('study', STUDY_UID) } } });
    for (const message of dashboard.messages) assertValidPayload(t, message.payload);

    // History rows as the API reads them, then the database's bytes on disk (with WAL and SHM).
    const db = openDatabase(config.store.path);
    const rows = new History(db).recent(10);
    t.is(rows.length, 3);
    t.true(rows.every((row) => row.dicom?.studyRef === pseudonyms.ref('study', STUDY_UID)));
    db.close();
    await service.stop();
    stopped = true;
    const dataDir = path.dirname(config.store.path);
    const stores = fs.readdirSync(dataDir).filter((name) => name.startsWith(path.basename(config.store.path)));
    t.true(stores.length >= 1);

    const haystacks: Array<[string, string]> = [
      ...stores.map((name): [string, string] => [`SQLite ${name}`, fs.readFileSync(path.join(dataDir, name)).toString('latin1')]),
      ['log', JSON.stringify(log.lines)],
      ['MQTT', JSON.stringify(dashboard.messages)],
      ...listFiles(config.capture.rejectedDir)
        .filter((name) => name.endsWith('.reason.json'))
        .map((name): [string, string] => [`rejected/${name}`, fs.readFileSync(path.join(config.capture.rejectedDir, name), 'utf8')]),
    ];
    for (const [where, text] of haystacks) {
      for (const secret of SECRETS) t.false(text.includes(secret), `${secret} found in ${where}`);
      // UTF-16 spellings too (SQLite can store text as UTF-16).
      t.false(Buffer.from(text, 'latin1').includes(Buffer.from('KOWALSKA', 'utf16le')), `UTF-16 name in ${where}`);
    }
    t.true(log.lines.some((line) => line.msg === 'classified' && (line.dicom as { studyRef?: string } | undefined)?.studyRef?.startsWith('study-')), 'the log shows the pseudonym');

    // The files themselves are kept on the device as the clinical record, unchanged.
    const kept = [...listFiles(config.capture.processedDir).map((f) => path.join(config.capture.processedDir, f)), ...listFiles(config.capture.rejectedDir).map((f) => path.join(config.capture.rejectedDir, f))].filter((f) => f.endsWith('.dcm'));
    t.is(kept.length, 3);
    t.true(kept.every((file) => fs.readFileSync(file).includes(Buffer.from('KOWALSKA^ZOFIA^MARIA'))));
  });
}
