import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { disposeClassified, quarantineRejected, readCapturedFile } from '../../src/capture/intake.js';
import { sha256Hex } from '../../src/hash.js';
import { listFiles, tempDir } from '../helpers/fixtures.js';

test('reads the bytes and the version it read', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'a.png'), 'hello');
  const read = await readCapturedFile(dir, 'a.png', 1000);
  t.like(read, { kind: 'bytes', size: 5, version: { size: 5, mtimeMs: fs.statSync(path.join(dir, 'a.png')).mtimeMs } });
  t.is(read.kind === 'bytes' && read.bytes.toString(), 'hello');
});


test('never follows a symlink out of the capture folder', async (t) => {
  const root = tempDir(t);
  const capture = path.join(root, 'capture');
  fs.mkdirSync(capture);
  fs.writeFileSync(path.join(root, 'secret.png'), 'outside');
  fs.writeFileSync(path.join(capture, 'inside.png'), 'inside');
  fs.symlinkSync(path.join(root, 'secret.png'), path.join(capture, 'escape.png'));
  fs.symlinkSync('inside.png', path.join(capture, 'alias.png'));
  fs.symlinkSync('/nonexistent/x.png', path.join(capture, 'dangling.png'));

  const escape = await readCapturedFile(capture, 'escape.png', 1000);
  t.is(escape.kind, 'refused');
  t.is(escape.kind === 'refused' && escape.error.code, 'E_SYMLINK_OUTSIDE_CAPTURE');
  t.is((await readCapturedFile(capture, 'dangling.png', 1000)).kind, 'refused');
  const alias = await readCapturedFile(capture, 'alias.png', 1000);
  t.is(alias.kind === 'bytes' && alias.bytes.toString(), 'inside');
});

test('an oversized file is refused without being loaded, but still identified', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'big.png'), Buffer.alloc(5000, 1));
  const read = await readCapturedFile(dir, 'big.png', 4096);
  t.is(read.kind, 'refused');
  t.is(read.kind === 'refused' && read.error.code, 'E_FILE_TOO_LARGE');
  t.is(read.kind === 'refused' && read.sha256, sha256Hex(Buffer.alloc(5000, 1)));
});

test('classified files go to processed/<UTC date>/, or are deleted when configured', async (t) => {
  const root = tempDir(t);
  const options = { afterCommit: 'move' as const, processedDir: path.join(root, 'processed'), rejectedDir: path.join(root, 'rejected') };
  for (const content of ['one', 'two']) {
    fs.writeFileSync(path.join(root, 'scan.png'), content);
    await disposeClassified(path.join(root, 'scan.png'), options, new Date('2026-11-26T23:59:00Z'));
  }
  const kept = listFiles(options.processedDir);
  t.is(kept.length, 2, 'a second file of the same name does not overwrite the first');
  t.true(kept.every((file) => file.startsWith('2026-11-26/scan')));
  t.deepEqual(kept.map((file) => fs.readFileSync(path.join(options.processedDir, file), 'utf8')).sort(), ['one', 'two']);

  fs.writeFileSync(path.join(root, 'gone.png'), 'x');
  await disposeClassified(path.join(root, 'gone.png'), { ...options, afterCommit: 'delete' }, new Date());
  t.false(fs.existsSync(path.join(root, 'gone.png')));
  t.is(listFiles(options.processedDir).length, 2);
});

test('rejected files are quarantined with a reason beside them', async (t) => {
  const root = tempDir(t);
  const options = { afterCommit: 'delete' as const, processedDir: path.join(root, 'processed'), rejectedDir: path.join(root, 'rejected') };
  fs.writeFileSync(path.join(root, 'bad.png'), 'not an image');
  const note = { file: 'bad.png', sha256: 'a'.repeat(64), code: 'E_NOT_AN_IMAGE', message: 'no signature', rejectedAt: new Date().toISOString() };
  const destination = await quarantineRejected(path.join(root, 'bad.png'), note, options);
  t.is(destination, path.join(options.rejectedDir, 'bad.png'), 'rejected files are kept even when classified ones are deleted');
  t.is(fs.readFileSync(destination, 'utf8'), 'not an image');
  t.deepEqual(JSON.parse(fs.readFileSync(`${destination}.reason.json`, 'utf8')), note);
});
