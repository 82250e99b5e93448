import crypto from 'node:crypto';
import test from 'ava';
import { PayloadSchemas } from '../../src/dashboard/ingest/payload-schemas.js';
import { modelCommandSchema, parseModelCommand } from '../../src/updates/command.js';

const schemas = new PayloadSchemas();

const install = {
  schema: 'cspine.model-command.v1',
  id: crypto.randomUUID(),
  deviceId: 'ambulance-7',
  issuedAt: '2026-11-27T02:43:00.210Z',
  action: 'install',
  rolloutId: crypto.randomUUID(),
  package: {
    manifestSha256: 'a'.repeat(64),
    modelId: 'cspine-alexnet-v2',
    totalBytes: 61_000_000,
    files: [
      { name: 'model.int8.onnx', sha256: 'b'.repeat(64), bytes: 61_000_000 },
      { name: 'reference/normal-1.png', sha256: 'c'.repeat(64), bytes: 0 },
    ],
  },
  download: { token: 'x'.repeat(43) },
};
const rollback = { schema: install.schema, id: crypto.randomUUID(), deviceId: 'ambulance-7', issuedAt: '2026-11-27T03:00:00+01:00', action: 'rollback', rolloutId: crypto.randomUUID() };

/** Valid (the first three) and invalid commands near every rule of schemas/model-command.v1.json. */
const cases: Array<[string, Record<string, unknown>]> = [
  ['install', install],
  ['rollback', rollback],
  ['install without package (the schema leaves it to the device)', { ...rollback, action: 'install' }],
  ['an unknown field', { ...install, priority: 1 }],
  ['an unknown field in package', { ...install, package: { ...install.package, url: 'http://elsewhere' } }],
  ['an unknown field in a file', { ...install, package: { ...install.package, files: [{ ...install.package.files[0], url: 'x' }] } }],
  ['the wrong schema', { ...install, schema: 'cspine.model-command.v2' }],
  ['an upper-case id', { ...install, id: install.id.toUpperCase() }],
  ['no rolloutId', { ...install, rolloutId: undefined }],
  ['a device id with a slash', { ...install, deviceId: 'a/b' }],
  ['a device id of 65 characters', { ...install, deviceId: 'd'.repeat(65) }],
  ['issuedAt without a time zone', { ...install, issuedAt: '2026-11-27T02:43:00' }],
  ['issuedAt not a date', { ...install, issuedAt: 'yesterday' }],
  ['an unknown action', { ...install, action: 'delete' }],
  ['a short manifest hash', { ...install, package: { ...install.package, manifestSha256: 'a'.repeat(63) } }],
  ['totalBytes 0', { ...install, package: { ...install.package, totalBytes: 0 } }],
  ['totalBytes not whole', { ...install, package: { ...install.package, totalBytes: 1.5 } }],
  ['no files', { ...install, package: { ...install.package, files: [] } }],
  ['a file name with a leading slash', { ...install, package: { ...install.package, files: [{ ...install.package.files[0], name: '/etc/passwd' }] } }],
  ['negative bytes', { ...install, package: { ...install.package, files: [{ ...install.package.files[0], bytes: -1 }] } }],
  ['a short token', { ...install, download: { token: 'short' } }],
  ['a token with a dot', { ...install, download: { token: `${'x'.repeat(40)}.` } }],
  ['a modelId with a space', { ...install, package: { ...install.package, modelId: 'a b' } }],
];

for (const [index, [name, payload]] of cases.entries()) {
  test(`zod and the JSON Schema agree: ${name}`, (t) => {
    const json = JSON.parse(JSON.stringify(payload)) as Record<string, unknown>;
    const verdict = schemas.check(json);
    t.is(verdict.ok, index < 3, 'the case is what it says');
    const parsed = modelCommandSchema.safeParse(json);
    t.is(parsed.success, verdict.ok, verdict.ok ? `zod refused: ${parsed.error?.message}` : `JSON Schema refused (${verdict.reason}) but zod took it`);
  });
}

test('parseModelCommand: a valid command, a broken one with its ids kept for the report, and not JSON', (t) => {
  const ok = parseModelCommand(Buffer.from(JSON.stringify(install)));
  t.true(ok.ok && ok.command.package?.files.length === 2);
  const broken = parseModelCommand(Buffer.from(JSON.stringify({ ...install, action: 'reboot' })));
  t.like(broken, { ok: false, id: install.id, rolloutId: install.rolloutId });
  t.regex(broken.ok ? '' : broken.problem, /action/);
  const garbage = parseModelCommand(Buffer.from('{not json'));
  t.false(garbage.ok);
  t.false('id' in garbage);
});
