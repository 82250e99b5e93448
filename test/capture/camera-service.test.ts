/**
 * The camera source in the running service, with FFmpeg playing a recorded screen as the
 * camera: each image shown is classified once and rightly, nothing else is; a lost camera is a
 * FAULT that clears when frames come again.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { ConfigInput } from '../../src/config/schema.js';
import { openDatabase } from '../../src/store/database.js';
import { History } from '../../src/store/history.js';
import { ringedSquare } from '../../src/tools/fixtures/images.js';
import { screenPane, writeScreenVideo } from '../../src/tools/fixtures/screen-video.js';
import { listFiles, tempDir, waitFor, workspace } from '../helpers/fixtures.js';
import { startService } from '../helpers/service.js';

const SCREEN = { width: 640, height: 480 };


function cameraSettings(input: string, overrides: NonNullable<NonNullable<ConfigInput['capture']>['camera']> = {}): ConfigInput['capture'] {
  return {
    camera: {
      enabled: true,
      input,
      fps: 4,
      width: 128,
      height: 128,
      roi: screenPane(SCREEN.width, SCREEN.height),
      stableMs: 800,
      retryMinMs: 200,
      retryMaxMs: 400,
      ...overrides,
    },
  };
}

function history(dbPath: string) {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    return new History(db).recent(100);
  } finally {
    db.close();
  }
}

test('a recorded screen played as the camera: each image shown is classified once, rightly, and nothing else', async (t) => {
  const video = path.join(tempDir(t), 'screen.mkv');
  const fracture = await ringedSquare(115, 6);
  await writeScreenVideo(
    video,
    [
      { image: fracture, seconds: 3 },
      { image: await ringedSquare(230, 9), seconds: 3 },
      { image: await ringedSquare(25, 4), seconds: 3 },
      // Scrolled back to the first image: already triaged, not taken again.
      { image: fracture, seconds: 3 },
    ],
    { ...SCREEN, fps: 10 },
  );
  const { config } = workspace(t, { capture: cameraSettings(video) });
  const { service, commits, finished } = await startService(t, config);
  await waitFor(() => /the recording has ended/.test(service.capabilityHealth().camera?.detail ?? ''), 40_000, 'the recording to end');
  await waitFor(() => finished.length === commits.length && commits.length >= 3, 10_000, 'the last still');
  await new Promise((resolve) => setTimeout(resolve, 500));

  t.deepEqual(
    commits.map((commit) => [commit.label, commit.triage.level]),
    [
      ['fracture', 'RED'],
      ['normal', 'GREEN'],
      ['dislocation', 'RED'],
    ],
  );
  const recorded = history(config.store.path);
  t.true(recorded.every((entry) => entry.sourceKind === 'camera' && /^camera-.*\.png$/.test(entry.source)));
  const kept = listFiles(config.capture.processedDir).filter((file) => file.endsWith('.png'));
  t.is(kept.length, 3, 'the stills are kept under data/processed/ as PNG');
});

test('the camera lost (no input, FFmpeg killed) is a FAULT that clears when frames come again; the service goes on', async (t) => {
  const dir = tempDir(t);
  const video = path.join(dir, 'later.mkv');
  const { config } = workspace(t, { capture: cameraSettings(video) });
  const { service, lamps } = await startService(t, config);
  await waitFor(() => service.status.current.state === 'fault', 10_000, 'the fault');
  const fault = service.status.current;
  t.true(fault.state === 'fault' && fault.fault.code === 'E_CAMERA_LOST' && fault.fault.kind === 'camera');
  t.is(service.capabilityHealth().camera?.status, 'failed');
  t.is(lamps.current?.level, 'FAULT');

  // The camera comes (a long recording at the path it waits for): the fault clears.
  const playing = path.join(dir, 'playing.mkv');
  await writeScreenVideo(playing, [{ image: await ringedSquare(115, 6), seconds: 30 }], { ...SCREEN, fps: 5 });
  fs.renameSync(playing, video);
  await waitFor(() => service.status.current.state !== 'fault', 10_000, 'the fault to clear');
  t.is(service.capabilityHealth().camera?.status, 'ok');

  // FFmpeg killed: FAULT again, then it is started again and clears.
  const killed = spawnSync('pkill', ['-KILL', '-f', video]);
  t.is(killed.status, 0, 'FFmpeg was running');
  await waitFor(() => service.status.current.state === 'fault', 10_000, 'the fault after the kill');
  await waitFor(() => service.status.current.state !== 'fault', 10_000, 'the fault to clear again');

  // Meanwhile the capture folder works as ever.
  t.true(fs.existsSync(config.capture.dir));
});
