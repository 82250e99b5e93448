import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { jsonLines, ORT_GUARD, runCli } from './helpers/cli.js';
import { grayImage } from '../src/tools/fixtures/images.js';
import { configEnv, workspace } from './helpers/fixtures.js';

/** Writes the same small PNG at each path (relative to `dir`); returns the full paths. */
async function writeImages(dir: string, names: readonly string[]): Promise<string[]> {
  const bytes = await grayImage(230);
  return names.map((name) => {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bytes);
    return file;
  });
}

const files = (run: { stdout: string }) => jsonLines(run.stdout).map((line) => line.file);

test('classify on 2,000 files named on the command line answers every one, in order', async (t) => {
  const { root, config } = workspace(t);
  const names = Array.from({ length: 2000 }, (_, i) => `IMG_${String(i + 1).padStart(5, '0')}.png`);
  const images = await writeImages(path.join(root, 'studies/2026-12-02/lateral-c-spine'), names);
  const missing = path.join(root, 'missing.png');
  // ONNX Runtime 1.30 crashed (SIGSEGV) in any process whose command line passed ~29 KB.
  t.true(images.join(' ').length > 100_000);
  const run = await runCli(['classify', '--json', ...images, missing], { ...configEnv(config), NODE_OPTIONS: `--import=${ORT_GUARD}` });
  t.is(run.signal, null);
  t.is(run.code, 2, run.stderr);
  const lines = jsonLines(run.stdout);
  t.deepEqual(files(run), [...images, missing]);
  t.true(lines.slice(0, -1).every((line) => line.ok === true && (line.triage as { level: string }).level === 'GREEN'));
  t.like(lines.at(-1), { ok: false, error: { code: 'E_FILE_UNREADABLE' } });
  t.log(`${lines.length} files: ${run.wallMs} ms`);
});

test('classify DIR: the files below it, sorted, without hidden files and partial uploads; files and folders mixed', async (t) => {
  const { root, config } = workspace(t);
  const study = path.join(root, 'study');
  await writeImages(study, ['b.png', 'a.png', 'series-2/c.png', 'series-10/d.png', '.DS_Store', '.thumbs/a.png', 'e.png.part', 'f.tmp', 'g.png~']);
  const [single] = await writeImages(root, ['single.png']);
  const run = await runCli(['classify', '--json', single!, study], configEnv(config));
  t.is(run.code, 0, run.stderr);
  t.deepEqual(files(run), [single, ...['a.png', 'b.png', 'series-10/d.png', 'series-2/c.png'].map((name) => path.join(study, name))]);
});

test('classify --files-from: FILEs and DIRs one per line from a file, or NUL-separated from stdin (-), after the operands', async (t) => {
  const { root, config } = workspace(t);
  const [a, b, c, odd] = await writeImages(root, ['a.png', 'b.png', 'dir/c.png', 'line\nbreak.png']);
  const list = path.join(root, 'list.txt');
  fs.writeFileSync(list, `${a}\r\n\n${path.join(root, 'dir')}\n`);
  const fromFile = await runCli(['classify', '--json', b!, '--files-from', list], configEnv(config));
  t.is(fromFile.code, 0, fromFile.stderr);
  t.deepEqual(files(fromFile), [b, a, c]);

  const fromStdin = await runCli(['classify', '--json', '--files-from', '-'], configEnv(config), undefined, `${odd}\0${a}\0`);
  t.is(fromStdin.code, 0, fromStdin.stderr);
  t.deepEqual(files(fromStdin), [odd, a]);

  const unreadable = await runCli(['classify', '--files-from', path.join(root, 'absent.txt')], configEnv(config));
  t.is(unreadable.code, 64);
  t.regex(unreadable.stderr, /cannot read --files-from .*absent\.txt: ENOENT/);
});
