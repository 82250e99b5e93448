import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { collect } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';
import { loadLibgpiod } from '../../src/indicators/gpio-chardev.js';

const here = path.dirname(fileURLToPath(import.meta.url));

test('all lamps off after an uncaught exception in the process; GREEN is never left lit', async (t) => {
  const stateFile = path.join(tempDir(t), 'lamps.json');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, '../helpers/crash-with-lamps.ts'), stateFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run = await collect(child);
  t.is(run.code, 70);
  t.regex(run.stdout, /"level":60.*uncaught exception: lamps off, exiting/);
  t.regex(run.stdout, /something broke after GREEN was lit/);
  t.deepEqual(JSON.parse(fs.readFileSync(stateFile, 'utf8')), { green: false, amber: false, red: false, buzzer: false });
});

test('the optional libgpiod backend is built and loads (CI installs libgpiod-dev)', (t) => {
  const gpiod = loadLibgpiod();
  if (!gpiod && !process.env.CI) {
    t.log('node-libgpiod not built here (no libgpiod-dev); CI requires it');
    t.pass();
    return;
  }
  t.truthy(gpiod, 'node-libgpiod must load in CI');
  t.regex(gpiod!.version, /^1\.\d+/, 'libgpiod 1.x, as Debian bookworm ships');
  t.true(Array.isArray(gpiod!.getChipNames()));
});
