/**
 * The rollouts' JSON API over real TCP against a real PostgreSQL, without a broker: who may do
 * what (any signed-in user reads, admins act, with the CSRF token), how refusals are answered,
 * and that concurrent actions on one rollout make one transition.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { addUser, ApiClient, startDashboardWeb, upsertDevice, type RunningDashboard } from '../helpers/dashboard-fixtures.js';
import { writeSigningKeys, writeTestPackage } from '../helpers/signed-packages.js';

const PASSWORD = 'correct horse battery';
let postgres: TemporaryPostgres;
let dashboard: RunningDashboard;
let root: string;
let manifestSha256: string;

test.before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-rollouts-api-'));
  const key = writeSigningKeys(root, 'fleet');
  postgres = await TemporaryPostgres.create();
  dashboard = await startDashboardWeb(postgres.url(), {}, undefined, { updates: { dir: path.join(root, 'store'), trustedKeys: [key.publicFile], groups: { north: ['api-1', 'api-2'] } } });
  const made = writeTestPackage(root, key);
  manifestSha256 = made.manifestSha256;
  await dashboard.updates.packages.add(made.dir, 'ada');
  for (let i = 1; i <= 8; i++) await upsertDevice(dashboard.database.pool, `api-${i}`);
  await addUser(dashboard.database, 'vera', 'viewer', PASSWORD);
  await addUser(dashboard.database, 'carl', 'clinician', PASSWORD);
  await addUser(dashboard.database, 'ada', 'admin', PASSWORD);
});

test.after.always(async () => {
  await dashboard?.stop();
  await postgres?.destroy();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

async function signedIn(user: string): Promise<ApiClient> {
  const client = new ApiClient(dashboard.url);
  const response = await client.login(user, PASSWORD);
  if (!response.ok) throw new Error(`login ${user}: ${response.status}`);
  return client;
}

async function error(response: Response): Promise<string> {
  return ((await response.json()) as { error: string }).error;
}

test.serial('any signed-in user reads packages, groups and rollouts; only an admin acts, and only with the CSRF token', async (t) => {
  const [vera, carl, ada] = await Promise.all([signedIn('vera'), signedIn('carl'), signedIn('ada')]);
  const created = await ada.post('/api/rollouts', { package: manifestSha256, devices: ['api-1', 'api-2'], canary: ['api-1'] });
  t.is(created.status, 201);
  const { rollout } = (await created.json()) as { rollout: { id: string; state: string; target: string; devices: { total: number; canary: number } } };
  t.like(rollout, { state: 'canary', target: 'devices api-1, api-2', devices: { total: 2, canary: 1 } });

  for (const client of [vera, carl]) {
    t.is((await client.json<{ packages: Array<{ manifestSha256: string }> }>('/api/packages')).packages[0]?.manifestSha256, manifestSha256);
    t.deepEqual((await client.json<{ groups: unknown }>('/api/device-groups')).groups, [{ name: 'north', devices: ['api-1', 'api-2'] }]);
    t.true((await client.json<{ rollouts: Array<{ id: string }> }>('/api/rollouts')).rollouts.some((listed) => listed.id === rollout.id));
    const shown = await client.json<{ devices: Array<{ deviceId: string; stage: string; state: string }> }>(`/api/rollouts/${rollout.id}`);
    t.deepEqual(shown.devices.map((device) => [device.deviceId, device.stage, device.state]), [['api-1', 'canary', 'pending'], ['api-2', 'main', 'pending']]);
    const refused = await client.post('/api/rollouts', { package: manifestSha256, devices: ['api-3'] });
    t.is(refused.status, 403);
    t.regex(await error(refused), /may not manage model rollouts/);
    t.is((await client.post(`/api/rollouts/${rollout.id}/halt`)).status, 403);
  }
  const noCsrf = await ada.post(`/api/rollouts/${rollout.id}/halt`, undefined, {});
  t.is(noCsrf.status, 403);
  t.regex(await error(noCsrf), /X-CSRF-Token/);
  t.is((await new ApiClient(dashboard.url).get('/api/rollouts')).status, 401);
  // A device's download route is no way into the API.
  t.is((await fetch(`${dashboard.url}/updates/${manifestSha256}/manifest.json`, { headers: { Cookie: 'x' } })).status, 401);
});

test.serial('refusals: a bad body or target is 400 with the reason, an unknown rollout 404, an action its state does not allow 409', async (t) => {
  const ada = await signedIn('ada');
  const bad = async (body: unknown, message: RegExp) => {
    const response = await ada.post('/api/rollouts', body);
    t.is(response.status, 400, JSON.stringify(body));
    t.regex(await error(response), message);
  };
  await bad({ devices: ['api-3'] }, /package/);
  await bad({ package: manifestSha256, devices: ['api-3'], colour: 'red' }, /colour/);
  await bad({ package: manifestSha256 }, /exactly one target/);
  await bad({ package: manifestSha256, devices: ['api-3'], group: 'north' }, /exactly one target/);
  await bad({ package: 'ffff0000', devices: ['api-3'] }, /no package ffff0000… has been added/);
  await bad({ package: 'xyz', devices: ['api-3'] }, /is not a package/);
  await bad({ package: manifestSha256, devices: ['api-3', 'nobody-1'] }, /unknown device nobody-1/);
  await bad({ package: manifestSha256, group: 'south' }, /no device group "south"/);
  await bad({ package: manifestSha256, devices: ['api-3'], canaryPercent: 101 }, /canaryPercent/);

  const unknown = crypto.randomUUID();
  t.is((await ada.get(`/api/rollouts/${unknown}`)).status, 404);
  t.is((await ada.get('/api/rollouts/not-a-uuid')).status, 404);
  t.is((await ada.post(`/api/rollouts/${unknown}/halt`)).status, 404);
  t.is((await ada.post('/api/rollouts/not-a-uuid/rollback')).status, 404);

  const created = await ada.post('/api/rollouts', { package: manifestSha256, devices: ['api-3', 'api-4'], canaryPercent: 0 });
  const { rollout } = (await created.json()) as { rollout: { id: string; state: string } };
  t.is(rollout.state, 'rolling', 'no canary stage');
  const busy = await ada.post('/api/rollouts', { package: manifestSha256, devices: ['api-4', 'api-5'] });
  t.is(busy.status, 400);
  t.regex(await error(busy), new RegExp(`already being updated: api-4 \\(rollout ${rollout.id}, rolling\\)`));
  const advance = await ada.post(`/api/rollouts/${rollout.id}/advance`);
  t.is(advance.status, 409);
  t.regex(await error(advance), /is rolling: only a rollout in its canary stage can advance/);
});

test.serial('five admins halting one rollout at once: one halts it, the others are told it is halted', async (t) => {
  const ada = await signedIn('ada');
  const created = await ada.post('/api/rollouts', { package: manifestSha256, devices: ['api-6', 'api-7', 'api-8'], canary: ['api-6'] });
  const { rollout } = (await created.json()) as { rollout: { id: string } };
  const answers = await Promise.all(Array.from({ length: 5 }, () => ada.post(`/api/rollouts/${rollout.id}/halt`)));
  t.deepEqual(answers.map((answer) => answer.status).sort(), [200, 409, 409, 409, 409]);
  const shown = await ada.json<{ rollout: { state: string; reason: string } }>(`/api/rollouts/${rollout.id}`);
  t.deepEqual([shown.rollout.state, shown.rollout.reason], ['halted', 'halted by ada']);
  // A halted rollout frees its devices for the next one.
  t.is((await ada.post('/api/rollouts', { package: manifestSha256, devices: ['api-6'] })).status, 201);
});
