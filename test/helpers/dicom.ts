/**
 * The test side of the DICOM fixtures (src/tools/fixtures/dicom.ts): missing tools or
 * conformance files fail the test in CI and skip it elsewhere.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { toolPath } from '../../src/tools/fixtures/dicom.js';

/** True when every tool is there; else fails the test in CI or skips it elsewhere. */
export function haveTools(t: ExecutionContext, ...names: string[]): boolean {
  const missing = names.filter((name) => !toolPath(name));
  if (missing.length === 0) return true;
  const message = `${missing.join(', ')} not installed (apt-get install dcmtk libopenjp2-tools; .ci/run does)`;
  if (process.env.CI) {
    t.fail(message);
  } else {
    t.log(`skipped: ${message}`);
    t.pass();
  }
  return false;
}

const PYDICOM_DIR_ENV = 'PYDICOM_TEST_FILES_CACHE';

/**
 * pydicom's public conformance files (Debian package python3-pydicom), downloaded and unpacked
 * at test time, never copied into the repository. Returns the test_files folder, or
 * undefined (the test is then skipped; in CI it fails instead).
 */
export function pydicomTestFiles(t: ExecutionContext): string | undefined {
  const fromEnv = process.env[PYDICOM_DIR_ENV];
  const cache = fromEnv ?? path.join(os.tmpdir(), 'cspine-pydicom');
  const found = findTestFiles(cache);
  if (found) return found;
  let problem: string | undefined;
  if (!toolPath('apt-get') || !toolPath('dpkg-deb')) {
    problem = 'apt-get/dpkg-deb not available';
  } else {
    fs.mkdirSync(cache, { recursive: true });
    let download = spawnSync('apt-get', ['download', 'python3-pydicom'], { cwd: cache, encoding: 'utf8' });
    if (download.status !== 0 && process.getuid?.() === 0) {
      spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8' });
      download = spawnSync('apt-get', ['download', 'python3-pydicom'], { cwd: cache, encoding: 'utf8' });
    }
    const deb = fs.readdirSync(cache).find((name) => /^python3-pydicom_.*\.deb$/.test(name));
    if (!deb) {
      problem = `apt-get download python3-pydicom failed: ${(download.stderr || download.stdout).trim().split('\n').pop()}`;
    } else {
      const unpacked = spawnSync('dpkg-deb', ['-x', path.join(cache, deb), path.join(cache, 'root')], { encoding: 'utf8' });
      if (unpacked.status !== 0) problem = `dpkg-deb -x failed: ${unpacked.stderr.trim()}`;
    }
  }
  const afterDownload = problem ? undefined : findTestFiles(cache);
  if (afterDownload) return afterDownload;
  const message = `pydicom conformance files unavailable (${problem ?? 'no test_files folder in the package'})`;
  if (process.env.CI) t.fail(message);
  else {
    t.log(`skipped: ${message}`);
    t.pass();
  }
  return undefined;
}

function findTestFiles(cache: string): string | undefined {
  const root = path.join(cache, 'root', 'usr', 'lib', 'python3', 'dist-packages', 'pydicom', 'data', 'test_files');
  return fs.existsSync(path.join(root, 'MR_small.dcm')) ? root : undefined;
}
