import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CaptureFolder, isIgnoredName, type ReadyFile } from '../../src/capture/capture-folder.js';
import { capturedLogger, tempDir, waitFor } from '../helpers/fixtures.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function startFolder(t: import('ava').ExecutionContext, dir: string, stableWindowMs = 150) {
  const ready: Array<ReadyFile & { size: number }> = [];
  const errors: Error[] = [];
  const folder = new CaptureFolder(
    dir,
    { stableWindowMs, rescanIntervalMs: 0 },
    (file) => ready.push({ ...file, size: fs.statSync(file.path).size }),
    (error) => errors.push(error),
    capturedLogger().logger,
  );
  t.teardown(() => folder.stop());
  return { folder, ready, errors };
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
  folder.release('a.png');
  folder.scan();
  await waitFor(() => ready.length === 2, 3000, 'second offer after release');
  t.pass();
});

test('a capture folder that vanishes is made again and watched, and files dropped there are found', async (t) => {
  const dir = path.join(tempDir(t), 'capture');
  const ready: ReadyFile[] = [];
  let recovered = 0;
  const folder = new CaptureFolder(dir, { stableWindowMs: 50, rescanIntervalMs: 200 }, (file) => ready.push(file), () => undefined, capturedLogger().logger, () => recovered++);
  t.teardown(() => folder.stop());
  await folder.start();
  fs.rmSync(dir, { recursive: true });
  await waitFor(() => recovered === 1 && fs.existsSync(dir), 5000, 'the folder to come back');
  fs.writeFileSync(path.join(dir, 'after.png'), 'x');
  await waitFor(() => ready.some((file) => file.name === 'after.png'), 5000, 'the new file');
  t.pass();
});
