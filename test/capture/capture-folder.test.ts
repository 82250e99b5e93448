import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CaptureFolder, isIgnoredName, type ClaimedFile } from '../../src/capture/capture-folder.js';
import { EventBus } from '../../src/runtime/event-bus.js';
import type { Fault, FaultKind } from '../../src/runtime/events.js';
import { capturedLogger, tempDir, waitFor } from '../helpers/fixtures.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function startFolder(t: import('ava').ExecutionContext, dir: string, stableWindowMs = 150, rescanIntervalMs = 0) {
  const ready: Array<ClaimedFile & { size: number }> = [];
  const faults: Array<Fault | FaultKind> = [];
  const logger = capturedLogger().logger;
  const bus = new EventBus(logger);
  bus.on('faultRaised', faults, (fault) => faults.push(fault));
  bus.on('faultCleared', faults, (kind) => faults.push(kind));
  let modelReady = true;
  const folder = new CaptureFolder({
    dir,
    stableWindowMs,
    rescanIntervalMs,
    sink: { offer: (file) => ready.push({ ...file, size: fs.statSync(file.path).size }) },
    bus,
    logger,
    modelReady: () => modelReady,
  });
  t.teardown(() => folder.stop());
  const setModel = (ready: boolean) => {
    modelReady = ready;
    bus.emit('modelChanged', ready ? { id: 'm', sha256: 'a'.repeat(64), cam: false } : undefined);
  };
  return { folder, ready, faults, setModel };
}

test('partial uploads and hidden files are never picked up', (t) => {
  for (const name of ['.DS_Store', 'scan.png.part', 'scan.tmp', 'x.crdownload', 'scan.png~']) t.true(isIgnoredName(name), name);
  for (const name of ['scan.png', 'IMG_0001.JPG', 'study.tiff']) t.false(isIgnoredName(name), name);
});

test('the backlog present at start is reported, ignored names and folders are not', async (t) => {
  const dir = tempDir(t);
  const old = new Date(Date.now() - 60_000);
  for (const name of ['a.png', 'b.jpg', '.hidden.png', 'c.png.part']) {
    fs.writeFileSync(path.join(dir, name), 'x');
    fs.utimesSync(path.join(dir, name), old, old);
  }
  fs.mkdirSync(path.join(dir, 'subfolder'));
  const { folder, ready } = startFolder(t, dir);
  await folder.start();
  await waitFor(() => ready.length === 2, 3000, 'backlog');
  await sleep(300);
  t.deepEqual(ready.map((file) => file.name).sort(), ['a.png', 'b.jpg']);
});

test('a file still being written is reported once, after its last write', async (t) => {
  const dir = tempDir(t);
  // A window well above the 60 ms between writes, so a loaded CI machine's late timers do not
  // make a pause look like the end of the file.
  const { folder, ready } = startFolder(t, dir, 400);
  await folder.start();
  const file = path.join(dir, 'slow.png');
  const handle = fs.openSync(file, 'w');
  for (let i = 0; i < 8; i++) {
    fs.writeSync(handle, Buffer.alloc(1000, i));
    await sleep(60);
    t.is(ready.length, 0, `reported while still being written (after write ${i + 1})`);
  }
  fs.closeSync(handle);
  const [reported] = await waitFor(() => ready.length > 0 && ready, 3000, 'the finished file');
  t.is(reported!.size, 8000);
  await sleep(400);
  t.is(ready.length, 1);
});

test('a written-then-renamed file is reported, its temporary name is not', async (t) => {
  const dir = tempDir(t);
  const { folder, ready } = startFolder(t, dir, 100);
  await folder.start();
  fs.writeFileSync(path.join(dir, '.upload.tmp'), Buffer.alloc(500));
  fs.renameSync(path.join(dir, '.upload.tmp'), path.join(dir, 'final.png'));
  await waitFor(() => ready.length === 1, 3000, 'renamed file');
  t.is(ready[0]!.name, 'final.png');
  t.is(ready[0]!.size, 500);
});

test('a claimed file is not offered again until released and rescanned', async (t) => {
  const dir = tempDir(t);
  const { folder, ready } = startFolder(t, dir, 50);
  await folder.start();
  fs.writeFileSync(path.join(dir, 'a.png'), 'x');
  await waitFor(() => ready.length === 1, 3000, 'first offer');
  folder.scan();
  fs.appendFileSync(path.join(dir, 'a.png'), 'y');
  await sleep(300);
  t.is(ready.length, 1);
  ready[0]!.release();
  folder.scan();
  await waitFor(() => ready.length === 2, 3000, 'second offer after release');
  t.pass();
});

test('a capture folder that vanishes is made again and watched, and files dropped there are found', async (t) => {
  const dir = path.join(tempDir(t), 'capture');
  const { folder, ready, faults } = startFolder(t, dir, 50, 200);
  await folder.start();
  fs.rmSync(dir, { recursive: true });
  await waitFor(() => fs.existsSync(dir), 5000, 'the folder to come back');
  fs.writeFileSync(path.join(dir, 'after.png'), 'x');
  await waitFor(() => ready.some((file) => file.name === 'after.png'), 5000, 'the new file');
  t.false(faults.some((fault) => typeof fault === 'object'), 'a folder that could be made again is no fault');
});

test('while no model takes images, files wait untouched and are handed out once one does', async (t) => {
  const dir = tempDir(t);
  const { folder, ready, setModel } = startFolder(t, dir, 50);
  setModel(false);
  await folder.start();
  fs.writeFileSync(path.join(dir, 'early.png'), 'x');
  await sleep(300);
  t.is(ready.length, 0);
  t.regex(folder.health().detail, /wait until a model is ready/);
  setModel(true);
  await waitFor(() => ready.length === 1, 3000, 'the waiting file');
  t.is(ready[0]!.name, 'early.png');
});

test('a file sent back by recheck is handed out again only once it stops changing', async (t) => {
  const dir = tempDir(t);
  const { folder, ready } = startFolder(t, dir, 0);
  await folder.start();
  const file = path.join(dir, 'copying.png');
  fs.writeFileSync(file, Buffer.alloc(100));
  await waitFor(() => ready.length === 1, 3000, 'first offer');
  ready[0]!.recheck();
  for (let i = 0; i < 5; i++) {
    fs.appendFileSync(file, Buffer.alloc(100));
    await sleep(40);
  }
  await waitFor(() => ready.length === 2, 3000, 'offer after the copy finished');
  t.is(ready[1]!.size, 600);
});
