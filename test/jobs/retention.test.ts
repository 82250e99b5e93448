import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { pruneProcessedImages } from '../../src/jobs/retention.js';
import { listFiles, tempDir } from '../helpers/fixtures.js';

function processedTree(t: import('ava').ExecutionContext, days: string[]): string {
  const dir = tempDir(t);
  for (const day of days) {
    fs.mkdirSync(path.join(dir, day));
    fs.writeFileSync(path.join(dir, day, 'scan.png'), 'x');
  }
  return dir;
}

const today = new Date().toISOString().slice(0, 10);

test('deletes day folders older than the age limit, keeps the rest', async (t) => {
  const dir = processedTree(t, ['2026-01-01', '2026-01-02', '2026-03-01', today, 'not-a-day']);
  const removed = await pruneProcessedImages(dir, { olderThan: new Date('2026-02-01T00:00:00Z'), maxDiskShare: 0.99, diskShare: () => 0.1 });
  t.deepEqual(removed, ['2026-01-01', '2026-01-02']);
  t.deepEqual(listFiles(dir).map((file) => file.split('/')[0]).sort(), ['2026-03-01', 'not-a-day', today].sort());
});

test('while the disk is too full, the oldest days go first, never today', async (t) => {
  const dir = processedTree(t, ['2026-05-01', '2026-05-02', '2026-05-03', today]);
  let share = 0.95;
  const removed = await pruneProcessedImages(dir, {
    olderThan: new Date('2000-01-01'),
    maxDiskShare: 0.85,
    diskShare: () => {
      const now = share;
      share -= 0.06; // each deleted day frees some space
      return now;
    },
  });
  t.deepEqual(removed, ['2026-05-01', '2026-05-02']);
  const full = await pruneProcessedImages(dir, { olderThan: new Date('2000-01-01'), maxDiskShare: 0.5, diskShare: () => 0.99 });
  t.deepEqual(full, ['2026-05-03']);
  t.deepEqual(listFiles(dir), [`${today}/scan.png`]);
});

test('a missing processed folder is nothing to do', async (t) => {
  t.deepEqual(await pruneProcessedImages(path.join(tempDir(t), 'none'), { olderThan: new Date(), maxDiskShare: 0.5 }), []);
});
