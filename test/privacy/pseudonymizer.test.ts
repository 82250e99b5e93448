import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { ConfigError } from '../../src/errors.js';
import { loadSiteSecret, Pseudonymizer } from '../../src/privacy/pseudonymizer.js';
import { tempDir } from '../helpers/fixtures.js';

test('the site secret is made once, private, and kept', (t) => {
  const file = path.join(tempDir(t), 'data/site-secret');
  const first = loadSiteSecret(file);
  t.is(first.length, 32);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  t.true(loadSiteSecret(file).equals(first));
});

test('a short secret file is refused rather than silently weak', (t) => {
  const file = path.join(tempDir(t), 'site-secret');
  fs.writeFileSync(file, 'short');
  const error = t.throws(() => loadSiteSecret(file), { instanceOf: ConfigError, message: /fewer than 32/ });
  t.is(error?.code, 'E_SITE_SECRET_INVALID');
  t.deepEqual(error?.problems, [`privacy.siteSecretFile: ${file} holds 5 bytes, fewer than 32: a weak key would make pseudonyms guessable; restore the site's secret or delete the file to have a new one made (earlier pseudonyms then no longer match)`]);
});

test('pseudonyms are stable per site, differ between sites and kinds, and hide the value', (t) => {
  const site = new Pseudonymizer(Buffer.alloc(32, 1));
  const other = new Pseudonymizer(Buffer.alloc(32, 2));
  const ref = site.ref('file', 'SMITH_JOHN.png');
  t.regex(ref, /^file-[0-9a-f]{32}$/);
  t.is(site.ref('file', 'SMITH_JOHN.png'), ref);
  t.not(other.ref('file', 'SMITH_JOHN.png'), ref);
  t.not(site.ref('study', 'SMITH_JOHN.png').slice(-32), ref.slice(-32));
  t.false(ref.includes('SMITH'));
});
