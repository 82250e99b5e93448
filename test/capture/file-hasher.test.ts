import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CHANGED, FileHasher } from '../../src/capture/file-hasher.js';
import { sha256Hex } from '../../src/hash.js';
import { tempDir } from '../helpers/fixtures.js';

const versionOf = (file: string) => {
  const stats = fs.statSync(file);
  return { size: stats.size, mtimeMs: stats.mtimeMs };
};

test('hashes the file in its own thread, also across its 1 MiB pieces and when empty', async (t) => {
  const dir = tempDir(t);
  const hasher = new FileHasher();
  t.teardown(() => hasher.close());
  for (const [name, bytes] of [['big.dcm', crypto.randomBytes((3 << 20) + 17)], ['exact.dcm', crypto.randomBytes(1 << 20)], ['empty.png', Buffer.alloc(0)]] as const) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    t.is(await hasher.hash(file, versionOf(file)), sha256Hex(bytes), name);
  }
});

test('says CHANGED when the file is no longer the version read, and rejects with ENOENT when it is gone', async (t) => {
  const dir = tempDir(t);
  const hasher = new FileHasher();
  t.teardown(() => hasher.close());
  const file = path.join(dir, 'growing.png');
  fs.writeFileSync(file, 'first part');
  const read = versionOf(file);
  fs.appendFileSync(file, ', and more');
  t.is(await hasher.hash(file, read), CHANGED);
  const touched = versionOf(file);
  fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
  t.is(await hasher.hash(file, touched), CHANGED);
  const error = await t.throwsAsync(hasher.hash(path.join(dir, 'gone.png'), read));
  t.is((error as NodeJS.ErrnoException).code, 'ENOENT');
});

test('a thread that ended is started again for the next file', async (t) => {
  const dir = tempDir(t);
  const hasher = new FileHasher();
  t.teardown(() => hasher.close());
  const file = path.join(dir, 'a.png');
  fs.writeFileSync(file, 'pixels');
  t.is(await hasher.hash(file, versionOf(file)), sha256Hex(Buffer.from('pixels')));
  await hasher.close();
  t.is(await hasher.hash(file, versionOf(file)), sha256Hex(Buffer.from('pixels')));
});
