/**
 * The dashboard's HTTP API over real TCP against a real PostgreSQL: sessions, CSRF, roles, the
 * login limit, filters and paging, acknowledging, CSV, /healthz and the live feed. Each test
 * uses its own devices, so the tests share one database and run concurrently.
 */
import test from 'ava';
import { ErrorCode } from '../../src/errors.js';
import { CHANNEL } from '../../src/dashboard/database/channels.js';
import type { ResultPage, ResultSummary } from '../../src/dashboard/database/queries.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { addUser, ApiClient, insertResults, resultPayload, startDashboardWeb, upsertDevice, type RunningDashboard } from '../helpers/dashboard-fixtures.js';

const PASSWORD = 'correct horse battery';
let postgres: TemporaryPostgres;
let dashboard: RunningDashboard;

test.before(async () => {
  postgres = await TemporaryPostgres.create();
  dashboard = await startDashboardWeb(postgres.url());
  await addUser(dashboard.database, 'vera', 'viewer', PASSWORD);
  await addUser(dashboard.database, 'carl', 'clinician', PASSWORD);
  await addUser(dashboard.database, 'ada', 'admin', PASSWORD);
});

test.after.always(async () => {
  await dashboard?.stop();
  await postgres?.destroy();
});

async function signedIn(user: string): Promise<ApiClient> {
  const client = new ApiClient(dashboard.url);
  const response = await client.login(user, PASSWORD);
  if (!response.ok) throw new Error(`login ${user}: ${response.status}`);
  return client;
}

function minutesAgo(minutes: number): Date {
  return new Date(Date.now() - minutes * 60_000);
}

test('login sets an HttpOnly SameSite=Strict cookie and returns the role and CSRF token; logout ends the session', async (t) => {
  const client = new ApiClient(dashboard.url);
  const response = await client.login('carl', PASSWORD);
  t.is(response.status, 200);
  const cookie = response.headers.get('set-cookie') ?? '';
  t.regex(cookie, /^cspine_session=[A-Za-z0-9_-]{43};/);
  t.regex(cookie, /HttpOnly/);
  t.regex(cookie, /SameSite=Strict/);
  t.regex(cookie, /Path=\//);
  t.notRegex(cookie, /Secure/, 'secureCookies is off in this test');
  const body = (await response.json()) as { user: string; role: string; csrfToken: string };
  t.is(body.user, 'carl');
  t.is(body.role, 'clinician');
  t.true(body.csrfToken.length >= 32);

  const session = await client.json<{ user: string; csrfToken: string }>('/api/session');
  t.is(session.user, 'carl');
  t.is(session.csrfToken, body.csrfToken);

  t.is((await client.post('/api/logout')).status, 200);
  t.is((await client.get('/api/session')).status, 401);
  t.is((await client.get('/api/devices')).status, 401);
});

test('only the token hash is stored', async (t) => {
  const client = await signedIn('vera');
  const { rows } = await dashboard.database.pool.query<{ token_hash: string }>("SELECT token_hash FROM sessions WHERE user_name = 'vera'");
  t.true(rows.length > 0);
  const token = (client as unknown as { cookie: string }).cookie.split('=')[1];
  t.false(rows.some((row) => row.token_hash === token));
});

test('a wrong password and an unknown user get the same answer', async (t) => {
  const wrongPassword = await new ApiClient(dashboard.url).login('carl', 'not the password');
  const unknownUser = await new ApiClient(dashboard.url).login('nobody', 'not the password');
  t.is(wrongPassword.status, 401);
  t.is(unknownUser.status, 401);
  t.deepEqual(await wrongPassword.json(), await unknownUser.json());
  t.is(wrongPassword.headers.get('set-cookie'), null);
  t.is((await new ApiClient(dashboard.url).request('POST', '/api/login', { username: 'carl' })).status, 400);
});

test('every API route but login needs a session', async (t) => {
  const anonymous = new ApiClient(dashboard.url);
  for (const path of ['/api/session', '/api/devices', '/api/results', '/api/results.csv', '/api/live', `/api/results/${crypto.randomUUID()}`]) {
    const response = await anonymous.get(path);
    t.is(response.status, 401, path);
    t.deepEqual(await response.json(), { error: 'sign in first' }, path);
  }
  t.is((await anonymous.post(`/api/results/${crypto.randomUUID()}/ack`)).status, 401);
});

test('failed logins beyond the limit per minute get 429 with Retry-After, even with the right password', async (t) => {
  const limited = await startDashboardWeb(postgres.url(), { loginAttemptsPerMinute: 3 });
  t.teardown(() => limited.stop());
  const client = new ApiClient(limited.url);
  // In parallel: guesses sent at once are held to the limit too.
  const statuses = await Promise.all(Array.from({ length: 5 }, () => client.login('carl', 'wrong password').then((response) => response.status)));
  t.deepEqual(statuses.sort(), [401, 401, 401, 429, 429]);
  const refused = await client.login('carl', PASSWORD);
  t.is(refused.status, 429);
  t.true(Number(refused.headers.get('retry-after')) >= 1);
  t.regex(((await refused.json()) as { error: string }).error, /too many failed logins/);
});

test('behind a trusted proxy, the limit is per X-Forwarded-For address', async (t) => {
  const limited = await startDashboardWeb(postgres.url(), { loginAttemptsPerMinute: 2, trustProxy: true });
  t.teardown(() => limited.stop());
  const client = new ApiClient(limited.url);
  const from = (address: string, password: string) => client.request('POST', '/api/login', { username: 'carl', password }, { 'X-Forwarded-For': `203.0.113.9, ${address}` });
  t.is((await from('198.51.100.1', 'wrong password')).status, 401);
  t.is((await from('198.51.100.1', 'wrong password')).status, 401);
  t.is((await from('198.51.100.1', PASSWORD)).status, 429);
  t.is((await from('198.51.100.2', PASSWORD)).status, 200);
});

test('writes without the CSRF token are refused with 403', async (t) => {
  const id = resultPayload({ deviceId: 'csrf-1', level: 'RED' });
  await insertResults(dashboard.database.pool, [id]);
  const client = await signedIn('carl');
  t.is((await client.post(`/api/results/${id.id}/ack`, undefined, {})).status, 403);
  t.is((await client.post(`/api/results/${id.id}/ack`, undefined, { 'X-CSRF-Token': 'x'.repeat(43) })).status, 403);
  t.is((await client.post('/api/logout', undefined, {})).status, 403);
  t.is((await client.get('/api/session')).status, 200, 'the session is still open');
});

test('a viewer cannot acknowledge; a clinician acknowledges a RED result once, and a second acknowledgement keeps the first', async (t) => {
  const red = resultPayload({ deviceId: 'ack-1', level: 'RED' });
  await insertResults(dashboard.database.pool, [red]);
  const viewer = await signedIn('vera');
  const refused = await viewer.post(`/api/results/${red.id}/ack`);
  t.is(refused.status, 403);
  t.regex(((await refused.json()) as { error: string }).error, /viewer role may not acknowledge/);

  const clinician = await signedIn('carl');
  const first = await clinician.post(`/api/results/${red.id}/ack`);
  t.is(first.status, 200);
  const firstBody = (await first.json()) as { by: string; at: string; already: boolean; result: ResultSummary };
  t.is(firstBody.by, 'carl');
  t.false(firstBody.already);
  t.deepEqual(firstBody.result.acknowledged, { by: 'carl', at: firstBody.at });

  const admin = await signedIn('ada');
  const second = (await (await admin.post(`/api/results/${red.id}/ack`)).json()) as { by: string; at: string; already: boolean };
  t.deepEqual(second, { ...second, by: 'carl', at: firstBody.at, already: true });

  const detail = await viewer.json<ResultSummary>(`/api/results/${red.id}`);
  t.deepEqual(detail.acknowledged, { by: 'carl', at: firstBody.at });
});

test('acknowledging is for RED results only; an unknown id is 404 and a malformed one 400', async (t) => {
  const green = resultPayload({ deviceId: 'ack-2', level: 'GREEN' });
  await insertResults(dashboard.database.pool, [green]);
  const clinician = await signedIn('carl');
  const notRed = await clinician.post(`/api/results/${green.id}/ack`);
  t.is(notRed.status, 409);
  t.regex(((await notRed.json()) as { error: string }).error, /only RED results.*GREEN/);
  t.is((await clinician.post(`/api/results/${crypto.randomUUID()}/ack`)).status, 404);
  t.is((await clinician.post('/api/results/not-a-uuid/ack')).status, 400);
  t.is((await clinician.get(`/api/results/${crypto.randomUUID()}`)).status, 404);
});

test('results filter by device, level and time, newest first, and page by cursor', async (t) => {
  const payloads = [
    ...Array.from({ length: 5 }, (_, i) => resultPayload({ deviceId: 'filter-a', level: 'GREEN', processedAt: minutesAgo(10 + i) })),
    ...Array.from({ length: 3 }, (_, i) => resultPayload({ deviceId: 'filter-a', level: 'RED', processedAt: minutesAgo(20 + i) })),
    ...Array.from({ length: 4 }, (_, i) => resultPayload({ deviceId: 'filter-b', level: 'AMBER', processedAt: minutesAgo(30 + i) })),
  ];
  await insertResults(dashboard.database.pool, payloads);
  const client = await signedIn('vera');

  const deviceA = await client.json<ResultPage>('/api/results?device=filter-a');
  t.is(deviceA.results.length, 8);
  t.true(deviceA.results.every((result) => result.deviceId === 'filter-a'));
  const times = deviceA.results.map((result) => result.processedAt);
  t.deepEqual(times, [...times].sort().reverse(), 'newest first');
  t.is(deviceA.nextCursor, null);

  const red = await client.json<ResultPage>('/api/results?device=filter-a&level=RED');
  t.deepEqual(red.results.map((result) => result.level), ['RED', 'RED', 'RED']);
  t.is((await client.json<ResultPage>('/api/results?device=filter-a&level=red')).results.length, 3, 'level is case-insensitive');

  const window = await client.json<ResultPage>(`/api/results?device=filter-a&since=${minutesAgo(12.5).toISOString()}&until=${minutesAgo(10.5).toISOString()}`);
  t.is(window.results.length, 2);

  const seen: string[] = [];
  let page = await client.json<ResultPage>('/api/results?device=filter-b&limit=3');
  seen.push(...page.results.map((result) => result.id));
  t.is(page.results.length, 3);
  t.truthy(page.nextCursor);
  page = await client.json<ResultPage>(`/api/results?device=filter-b&limit=3&before=${page.nextCursor}`);
  seen.push(...page.results.map((result) => result.id));
  t.is(page.results.length, 1);
  t.is(page.nextCursor, null);
  t.deepEqual(
    seen.sort(),
    payloads
      .filter((payload) => payload.deviceId === 'filter-b')
      .map((payload) => payload.id)
      .sort(),
  );

  const unacknowledged = await client.json<ResultPage>('/api/results?device=filter-a&level=RED&acknowledged=false');
  t.is(unacknowledged.results.length, 3);
});

test('bad query parameters get 400 with a message naming the parameter', async (t) => {
  const client = await signedIn('vera');
  const cases: Array<[string, RegExp]> = [
    ['level=PURPLE', /level must be one of GREEN, AMBER, RED/],
    ['limit=0', /limit must be a whole number from 1 to 1000/],
    ['limit=1001', /limit must be a whole number from 1 to 1000/],
    ['limit=ten', /limit/],
    ['since=yesterday', /since must be an ISO 8601/],
    ['until=2026-11-26T10:00', /until must be .* with a zone/],
    ['since=2026-11-27&until=2026-11-26', /since must be before until/],
    ['device=a%20b', /device must be a device id/],
    ['before=123', /before must be a cursor/],
    ['acknowledged=maybe', /acknowledged must be true or false/],
    ['levle=RED', /unknown parameter "levle"/],
  ];
  for (const [query, message] of cases) {
    const response = await client.get(`/api/results?${query}`);
    t.is(response.status, 400, query);
    t.regex(((await response.json()) as { error: string }).error, message, query);
  }
  t.is((await client.get('/api/results/123')).status, 400);
  t.is((await client.get('/api/results.csv?level=PURPLE')).status, 400);
});

test('the devices route lists the fleet from status and health', async (t) => {
  await upsertDevice(dashboard.database.pool, 'fleet-1', { condition: { state: 'fault', code: 'E_SELF_TEST_FAILED', since: new Date().toISOString() } });
  await upsertDevice(dashboard.database.pool, 'fleet-2', { state: 'offline', health: null });
  const { devices } = await (await signedIn('vera')).json<{ devices: Array<Record<string, unknown>> }>('/api/devices');
  const one = devices.find((device) => device.deviceId === 'fleet-1');
  t.like(one, { state: 'online', outboxPending: 0, diskFreeBytes: 21_474_836_480, lamp: 'GREEN', condition: { state: 'fault', code: 'E_SELF_TEST_FAILED' } });
  t.is((one?.model as { id: string }).id, 'cspine-alexnet-demo');
  t.truthy(one?.lastHeartbeatAt);
  t.like(
    devices.find((device) => device.deviceId === 'fleet-2'),
    { state: 'offline', lastHeartbeatAt: null, model: null, lamp: null },
  );
});

test('a result detail has the whole payload but never image.source, and no response anywhere does', async (t) => {
  const secret = 'SMITH_JOHN_1970-01-01.png';
  const payload = resultPayload({ deviceId: 'privacy-1', level: 'RED', source: secret, dicom: true, verdicts: true });
  await insertResults(dashboard.database.pool, [payload]);
  const client = await signedIn('carl');
  const detail = await client.json<{ payload: { image: Record<string, unknown>; ood: unknown; timingsMs: unknown } }>(`/api/results/${payload.id}`);
  t.false('source' in detail.payload.image);
  t.is(detail.payload.image.sourceRef, (payload.image as { sourceRef: string }).sourceRef);
  t.like(detail.payload.image.dicom, { modality: 'DX', bodyPart: 'CSPINE', viewPosition: 'LL' });
  t.truthy(detail.payload.ood);
  const bodies = await Promise.all(
    [`/api/results/${payload.id}`, '/api/results?device=privacy-1', '/api/results.csv?device=privacy-1', '/api/devices'].map(async (path) => (await client.get(path)).text()),
  );
  bodies.push(await (await client.post(`/api/results/${payload.id}/ack`)).text());
  for (const body of bodies) t.false(body.includes(secret) || body.includes('SMITH'), body.slice(0, 200));
});

test('CSV export: same filters, an attachment, one line per result and no identifiers', async (t) => {
  const payloads = [
    resultPayload({ deviceId: 'csv-1', level: 'RED', processedAt: minutesAgo(3), source: 'DOE_JANE.dcm', dicom: true }),
    resultPayload({ deviceId: 'csv-1', rejected: true, processedAt: minutesAgo(2) }),
    resultPayload({ deviceId: 'csv-1', level: 'GREEN', processedAt: minutesAgo(1) }),
  ];
  await insertResults(dashboard.database.pool, payloads);
  const response = await (await signedIn('vera')).get('/api/results.csv?device=csv-1');
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/csv/);
  t.regex(response.headers.get('content-disposition') ?? '', /^attachment; filename="cspine-results-\d{8}T\d{6}Z\.csv"$/);
  const text = await response.text();
  const lines = text.trimEnd().split('\r\n');
  t.is(lines[0], 'id,device,processed_at,ingested_at,outcome,level,label,reason,probabilities,error_code,model_id,model_sha256,acknowledged_by,acknowledged_at');
  t.is(lines.length, 4);
  t.true(lines[1]!.startsWith(`${payloads[2]!.id},csv-1,`));
  t.regex(lines[2]!, /,rejected,AMBER,,retake — the image is blank,,E_QUALITY_BLANK,/);
  t.regex(lines[3]!, /,classified,RED,fracture,fracture suspected \(P=87\.0%\),normal=0\.08 fracture=0\.87 dislocation=0\.05,,cspine-alexnet-demo,/);
  for (const identifier of ['DOE_JANE', 'file-', 'study-', 'sop-']) t.false(text.includes(identifier), identifier);

  const limited = await (await signedIn('vera')).get('/api/results.csv?device=csv-1&limit=2');
  t.is((await limited.text()).trimEnd().split('\r\n').length, 3);
});

test('/healthz answers without a session: 200 with every part, 503 when one has failed', async (t) => {
  const response = await fetch(`${dashboard.url}/healthz`);
  t.is(response.status, 200);
  const body = (await response.json()) as { status: string; parts: Record<string, { status: string }> };
  t.is(body.status, 'ok');
  t.is(body.parts.postgres?.status, 'ok');
  t.truthy(body.parts.web);

  const failing = await startDashboardWeb(postgres.url(), {}, () => ({ ingest: { status: 'failed', detail: 'broker refused' } }));
  t.teardown(() => failing.stop());
  const failed = await fetch(`${failing.url}/healthz`);
  t.is(failed.status, 503);
  t.like(await failed.json(), { status: 'failed', parts: { ingest: { status: 'failed' } } });
});

test('the page is served with a strict Content-Security-Policy; unknown routes are 404', async (t) => {
  const response = await fetch(`${dashboard.url}/`);
  t.is(response.status, 200);
  t.regex(await response.text(), /<script type="module" src="\/app.js"><\/script>/);
  const csp = response.headers.get('content-security-policy') ?? '';
  t.regex(csp, /default-src 'none'/);
  t.regex(csp, /script-src 'self'(;|$)/);
  t.notRegex(csp, /unsafe-inline/);
  t.regex(csp, /frame-ancestors 'none'/);
  t.is(response.headers.get('x-content-type-options'), 'nosniff');
  t.regex((await fetch(`${dashboard.url}/app.js`)).headers.get('content-type') ?? '', /javascript/);
  t.is((await fetch(`${dashboard.url}/app.css`)).status, 200);
  t.is((await fetch(`${dashboard.url}/../package.json`)).status, 404);
  t.is((await fetch(`${dashboard.url}/index.html`)).status, 404);
});

interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/** Reads Server-Sent Events until `until` says stop. */
async function readEvents(response: Response, until: (events: SseEvent[]) => boolean, timeoutMs = 10_000): Promise<SseEvent[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  let buffer = '';
  const deadline = setTimeout(() => void reader.cancel(), timeoutMs);
  try {
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = { event: 'message', data: '' };
        for (const line of block.split('\n')) {
          const [field, ...rest] = line.split(':');
          const value = rest.join(':').replace(/^ /, '');
          if (field === 'event') event.event = value;
          else if (field === 'id') event.id = value;
          else if (field === 'data') event.data += value;
        }
        if (block.split('\n').some((line) => !line.startsWith(':'))) events.push(event);
      }
    }
  } finally {
    clearTimeout(deadline);
    await reader.cancel().catch(() => undefined);
  }
  return events;
}

test('the live feed pushes results inserted and notified after connecting, acknowledgements and fleet changes', async (t) => {
  const client = await signedIn('carl');
  const response = await client.get('/api/live');
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const red = resultPayload({ deviceId: 'live-1', level: 'RED', source: 'DOE_JOHN.png' });
  const green = resultPayload({ deviceId: 'live-1', level: 'GREEN' });
  const collected = readEvents(
    response,
    (events) => events.some((event) => event.event === 'acknowledged' && event.data.includes(red.id)) && events.some((event) => event.event === 'devices' && event.data.includes('"live-1"')),
  );
  // Wait for the subscription: the first event is the fleet, sent once subscribed.
  await new Promise((resolve) => setTimeout(resolve, 300));
  await insertResults(dashboard.database.pool, [red, green]);
  await upsertDevice(dashboard.database.pool, 'live-1');
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is((await client.post(`/api/results/${red.id}/ack`)).status, 200);
  const events = await collected;
  t.false(events.some((event) => event.data.includes('DOE_JOHN')));
  // Other tests insert results meanwhile: look at this test's device only.
  const results = events
    .filter((event) => event.event === 'result')
    .map((event) => ({ id: event.id, result: JSON.parse(event.data) as ResultSummary }))
    .filter((entry) => entry.result.deviceId === 'live-1');
  t.deepEqual(
    results.map((entry) => entry.result.id),
    [red.id, green.id],
  );
  t.is(results[0]!.id, String(results[0]!.result.seq), 'the event id is the seq, for Last-Event-ID');
  t.is(results[0]!.result.reason, 'fracture suspected (P=87.0%)');
  const acknowledged = events.filter((event) => event.event === 'acknowledged').map((event) => JSON.parse(event.data) as ResultSummary);
  t.is(acknowledged.find((result) => result.id === red.id)?.acknowledged?.by, 'carl');
  const fleets = events.filter((event) => event.event === 'devices').map((event) => JSON.parse(event.data) as { devices: Array<{ deviceId: string }> });
  t.true(fleets[fleets.length - 1]!.devices.some((device) => device.deviceId === 'live-1'));
});

test('the live feed catches up from Last-Event-ID', async (t) => {
  const client = await signedIn('vera');
  const before = resultPayload({ deviceId: 'live-2', level: 'AMBER' });
  await insertResults(dashboard.database.pool, [before]);
  const { results } = await client.json<ResultPage>('/api/results?device=live-2');
  const missed = resultPayload({ deviceId: 'live-2', level: 'RED' });
  await insertResults(dashboard.database.pool, [missed], { notify: false });
  const response = await client.get('/api/live', { 'Last-Event-ID': String(results[0]!.seq) });
  const events = await readEvents(response, (seen) => seen.some((event) => event.event === 'result' && event.data.includes(missed.id)));
  t.true(events.some((event) => event.event === 'result' && event.data.includes(missed.id)));
  t.false(events.some((event) => event.event === 'result' && event.data.includes(before.id)));
});

test('the live feed reconnects after PostgreSQL restarts and delivers what was committed meanwhile', async (t) => {
  const own = await TemporaryPostgres.create();
  const running = await startDashboardWeb(own.url());
  t.teardown(async () => {
    await running.stop();
    await own.destroy();
  });
  await addUser(running.database, 'carl', 'clinician', PASSWORD);
  const client = new ApiClient(running.url);
  await client.login('carl', PASSWORD);
  const response = await client.get('/api/live');
  const first = resultPayload({ deviceId: 'restart-1' });
  const second = resultPayload({ deviceId: 'restart-1', level: 'RED' });
  const collected = readEvents(response, (events) => events.filter((event) => event.event === 'result').length >= 2, 20_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await insertResults(running.database.pool, [first]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await own.stop();
  await own.start();
  // Committed while the feed's connection is down: no one hears this NOTIFY.
  await insertResults(running.database.pool, [second]).catch(() => insertResults(running.database.pool, [second]));
  const events = await collected;
  t.deepEqual(
    events.filter((event) => event.event === 'result').map((event) => (JSON.parse(event.data) as ResultSummary).id),
    [first.id, second.id],
  );
  t.is(running.web.health().status, 'ok');
  // The stream read above was cancelled: its subscription ends with it.
  for (let tries = 0; tries < 50 && !running.web.health().detail.includes('0 subscriber'); tries++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.regex(running.web.health().detail, /0 subscriber\(s\)/);
});

test('stop() ends the open live streams and the server, and a second stop() is harmless', async (t) => {
  const running = await startDashboardWeb(postgres.url());
  const client = new ApiClient(running.url);
  t.is((await client.login('carl', PASSWORD)).status, 200);
  const response = await client.get('/api/live');
  const reader = response.body!.getReader();
  await reader.read();
  const started = Date.now();
  await running.web.stop();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read());
  t.true(Date.now() - started < 5000);
  await t.notThrowsAsync(running.stop());
  t.is(running.web.health().status, 'off');
  await t.throwsAsync(fetch(`${running.url}/healthz`));
});

test('a port already taken fails start with E_DASHBOARD_HTTP_BIND_FAILED naming the address', async (t) => {
  const port = new URL(dashboard.url).port;
  const error = await t.throwsAsync(startDashboardWeb(postgres.url(), { port: Number(port) }));
  t.is((error as { code?: string }).code, ErrorCode.DASHBOARD_HTTP_BIND_FAILED);
  t.regex(error!.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
});

test('a result whose transaction commits after a newer one still reaches the live feed', async (t) => {
  const client = await signedIn('vera');
  const response = await client.get('/api/live');
  const older = resultPayload({ deviceId: 'order-1', level: 'AMBER' });
  const newer = resultPayload({ deviceId: 'order-1', level: 'GREEN' });
  const collected = readEvents(response, (events) => events.filter((event) => event.event === 'result' && event.data.includes('"order-1"')).length >= 2);
  await new Promise((resolve) => setTimeout(resolve, 300));
  // Two ingest lanes: the first takes its seq, the second takes a higher one and commits first.
  const slow = await dashboard.database.pool.connect();
  t.teardown(() => slow.release());
  await slow.query('BEGIN');
  await insertResults(slow, [older], { notify: false });
  await insertResults(dashboard.database.pool, [newer]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await slow.query(`NOTIFY ${CHANNEL.results}`);
  await slow.query('COMMIT');
  const ids = (await collected).filter((event) => event.event === 'result').map((event) => (JSON.parse(event.data) as ResultSummary).id);
  t.true(ids.includes(older.id) && ids.includes(newer.id), JSON.stringify(ids));
});
