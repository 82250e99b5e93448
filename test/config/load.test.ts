import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { environmentOverrides, loadConfig, maskSecrets } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../helpers/fixtures.js';

test('embedded defaults need no file and no environment', (t) => {
  const config = loadConfig({ env: {} });
  t.is(config.capture.dir, './capture');
  t.is(config.store.path, './data/cspine.db');
  t.is(config.model.id, 'cspine-alexnet-demo');
  t.is(config.capture.stableWindowMs, 300);
  t.is(config.indicators.backend, 'auto', 'real lamps where the board has GPIO, simulated elsewhere');
  t.is(config.triage.greenMinNormal, undefined, 'thresholds default to the model manifest, then built-ins');
});

test('a YAML file overrides defaults and the environment overrides the file', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'cspine.yaml');
  fs.writeFileSync(file, 'capture:\n  dir: /srv/xray\n  stableWindowMs: 500\nmodel:\n  id: other\n');
  const config = loadConfig({ file, env: { CSPINE_CAPTURE__STABLE_WINDOW_MS: '750', CSPINE_TRIAGE__GREEN_MIN_NORMAL: '0.95' } });
  t.is(config.capture.dir, '/srv/xray');
  t.is(config.capture.stableWindowMs, 750);
  t.is(config.model.id, 'other');
  t.is(config.triage.greenMinNormal, 0.95);
  t.is(config.model.dir, './models', 'untouched keys keep their default');
});

test('JSON files are read too, and CSPINE_CONFIG names the file', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'cspine.json');
  fs.writeFileSync(file, JSON.stringify({ deviceId: 'ambulance-7' }));
  t.is(loadConfig({ env: { CSPINE_CONFIG: file } }).deviceId, 'ambulance-7');
});

test('environment names map to nested camelCase keys, values parse as JSON when they can', (t) => {
  t.deepEqual(environmentOverrides({ CSPINE_CAPTURE__MAX_FILE_BYTES: '1000', CSPINE_LOG__LEVEL: 'warn', HOME: '/root' }), {
    capture: { maxFileBytes: 1000 },
    log: { level: 'warn' },
  });
});

test('a bad config fails listing every problem by its path', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'bad.yaml');
  fs.writeFileSync(file, 'capture:\n  stableWindowMs: soon\n  afterCommit: shred\n  bogus: 1\ntriage:\n  greenMinNormal: 1.5\n');
  const error = t.throws(() => loadConfig({ file, env: { CSPINE_MODEL__THREADS: '-2' } }), { instanceOf: ConfigError });
  t.is(error.code, 'E_CONFIG_INVALID');
  const paths = error.problems.map((problem) => problem.split(':')[0]).sort();
  t.deepEqual(paths, ['capture', 'capture.afterCommit', 'capture.stableWindowMs', 'model.threads', 'triage.greenMinNormal']);
  t.regex(error.message, /bogus/);
});

test('an unreadable or malformed file is a ConfigError naming the file', (t) => {
  const dir = tempDir(t);
  const missing = t.throws(() => loadConfig({ file: path.join(dir, 'nope.yaml'), env: {} }), { instanceOf: ConfigError });
  t.is(missing.code, 'E_CONFIG_FILE_UNREADABLE');
  t.true(missing.message.includes('nope.yaml'));
  const file = path.join(dir, 'list.yaml');
  fs.writeFileSync(file, '- a\n- b\n');
  t.is(t.throws(() => loadConfig({ file, env: {} }), { instanceOf: ConfigError }).code, 'E_CONFIG_INVALID');
});

test('secrets are masked when printed', (t) => {
  const config = loadConfig({ env: { CSPINE_SYNC__MQTT__PASSWORD: 'hunter2', CSPINE_SYNC__MQTT__USERNAME: 'edge' } });
  const printed = JSON.stringify(maskSecrets(config));
  t.false(printed.includes('hunter2'));
  t.true(printed.includes('"password":"********"'));
  t.true(printed.includes('"username":"edge"'));
});

test('a setting that moved (sync.siteSecretFile → privacy.siteSecretFile) still works from an old file, with a warning', async (t) => {
  const file = path.join(tempDir(t), 'old.yaml');
  fs.writeFileSync(file, 'sync:\n  siteSecretFile: /var/lib/cspine/site-secret\n');
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const config = loadConfig({ file, env: {} });
  t.is(config.privacy.siteSecretFile, '/var/lib/cspine/site-secret');
  t.false('siteSecretFile' in config.sync);
  await new Promise((resolve) => setImmediate(resolve));
  t.true(warnings.some((warning) => /sync\.siteSecretFile is now privacy\.siteSecretFile/.test(warning.message)));
  // The new name wins where both are given.
  fs.writeFileSync(file, 'sync:\n  siteSecretFile: /old\nprivacy:\n  siteSecretFile: /new\n');
  t.is(loadConfig({ file, env: {} }).privacy.siteSecretFile, '/new');
});
