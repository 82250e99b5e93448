import path from 'node:path';
import test from 'ava';
import { openDatabase } from '../../src/store/database.js';
import { History } from '../../src/store/history.js';
import { loadSiteSecret, Pseudonymizer } from '../../src/privacy/pseudonymizer.js';
import { listFiles, MODEL_ID, tempDir, waitFor, workspace } from '../helpers/fixtures.js';
import { AE, dcmtkAvailable, makePhantom, PHANTOM_PATIENT, tool } from '../helpers/dicom-receiver.js';
import { startService } from '../helpers/service.js';

const dcmtk = dcmtkAvailable() ? test : test.skip;

dcmtk('end to end: storescu → receiver → capture folder → classified history row, with no identifier in logs or history', async (t) => {
  const { root, config } = workspace(t, { dicom: { receiver: { enabled: true, aeTitle: AE, allowedCallingAeTitles: ['XRAY1'] } } });
  config.dicom.receiver.port = 0; // the OS picks a free port
  // Its own setting, not sync's: the pseudonyms are made with sync off too.
  config.privacy.siteSecretFile = path.join(root, 'keys/site-secret');
  t.false(config.sync.mqtt.enabled);
  const { service, commits, finished, log } = await startService(t, config);
  const state = service.dicomReceiver!.state;
  if (state.state !== 'listening') return t.fail(`receiver not listening: ${JSON.stringify(state)}`);

  // Bright behind a fixed window: the brightness model calls it normal → GREEN; dark → RED.
  const work = tempDir(t);
  const window = ['(0028,1050) DS 2048', '(0028,1051) DS 4096'];
  const bright = await makePhantom(work, 'bright', { sample: (x, y) => 3700 + ((x + y) % 7), extra: window, width: 96, height: 96 });
  const dark = await makePhantom(work, 'dark', { sample: (x, y) => 200 + ((x * y) % 5), extra: window, width: 96, height: 96 });
  const started = Date.now();
  const run = await tool('storescu', ['-aet', 'XRAY1', '-aec', AE, '127.0.0.1', String(state.port), bright.file, dark.file]);
  t.is(run.code, 0, run.output);
  await waitFor(() => commits.length === 2 && finished.length === 2, 15_000, 'both instances classified');
  t.log(`storescu start → 2 results committed: ${Date.now() - started} ms`);

  const pseudonymizer = new Pseudonymizer(loadSiteSecret(config.privacy.siteSecretFile));
  const nameOf = (uid: string) => `${pseudonymizer.ref('sop', uid)}.dcm`;
  const db = openDatabase(config.store.path, { readonly: true });
  const rows = new History(db).recent(10);
  db.close();
  const brightRow = rows.find((row) => row.source === nameOf(bright.sopInstanceUid));
  const darkRow = rows.find((row) => row.source === nameOf(dark.sopInstanceUid));
  t.like(brightRow, { outcome: 'classified', label: 'normal', triage: { level: 'GREEN' }, model: { id: MODEL_ID } });
  t.like(darkRow, { outcome: 'classified', triage: { level: 'RED' } });
  // History's instance reference and the received file's name are the same pseudonym.
  t.is(`${brightRow?.dicom?.instanceRef}.dcm`, nameOf(bright.sopInstanceUid));

  // The received file stays on the device as the clinical record (processed/), not in capture/.
  const processed = listFiles(config.capture.processedDir).map((file) => path.basename(file));
  t.deepEqual(processed.sort(), [nameOf(bright.sopInstanceUid), nameOf(dark.sopInstanceUid)].sort());
  t.deepEqual(listFiles(config.capture.dir), []);

  const text = JSON.stringify(log.lines) + JSON.stringify(rows);
  for (const secret of [bright.sopInstanceUid, dark.sopInstanceUid, ...Object.values(PHANTOM_PATIENT)]) t.false(text.includes(secret), `${secret} leaked`);
  t.like(log.lines.find((line) => line.msg === 'DICOM instance received'), { callingAE: 'XRAY1', sopClass: 'Digital X-Ray Image Storage - For Presentation' });
});
