// The dashboard page: plain modules, no build step, no third-party code. Everything shown is
// built with DOM calls (never innerHTML), so a payload's text can never become markup.

const PAGE_SIZE = 100;
/** Rows kept while results stream in for hours; older ones are a "Load older results" away. */
const MAX_ROWS = 500;
const STALE_HEARTBEAT_MS = 3 * 60 * 1000;

const state = {
  session: null,
  /** the results list for the current filters, newest first */
  results: [],
  nextCursor: null,
  /** unacknowledged RED results, whatever the filters: the banner and the pinned rows */
  redOpen: new Map(),
  devices: [],
  filters: {},
  /** highest seq seen: the live feed resumes after it */
  lastSeq: 0,
  live: null,
  detailId: null,
  /** model updates: stored packages, the newest rollouts, the configured device groups */
  packages: [],
  rollouts: [],
  groups: [],
  /** the rollout whose devices are shown, and them */
  rolloutId: null,
  rolloutDevices: [],
};

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// ---- API ----

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.method && options.method !== 'GET' && state.session) headers['X-CSRF-Token'] = state.session.csrfToken;
  const response = await fetch(path, {
    method: options.method ?? 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    credentials: 'same-origin',
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== '/api/login') {
    showLogin();
    throw new ApiError(401, 'signed out');
  }
  if (!response.ok) throw new ApiError(response.status, body.error ?? `${response.status} ${response.statusText}`);
  return body;
}

// ---- formatting ----

function timeAgo(iso) {
  if (!iso) return '—';
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}

function clock(iso) {
  if (!iso) return '—';
  const at = new Date(iso);
  const sameDay = at.toDateString() === new Date().toDateString();
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return sameDay ? time : `${at.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

function fullTime(iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

function bytes(n) {
  if (n === null || n === undefined) return '—';
  const gib = n / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(gib >= 100 ? 0 : 1)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;
}

function percent(p) {
  return `${(p * 100).toFixed(1)} %`;
}

function shortHash(sha) {
  return sha ? sha.slice(0, 8) : '';
}

function mebibytes(n) {
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function isAdmin() {
  return state.session?.role === 'admin';
}

function levelBadge(level) {
  return el('span', { class: `badge level-${level}`, text: level });
}

function finding(result) {
  if (result.outcome === 'rejected') return el('span', {}, 'Rejected', el('span', { class: 'sub mono', text: result.errorCode ?? '' }));
  const p = result.probabilities && result.label ? result.probabilities[result.label] : undefined;
  return el('span', {}, result.label ?? '—', p === undefined ? null : el('span', { class: 'sub', text: `P = ${percent(p)}` }));
}

// ---- session ----

function showLogin() {
  state.session = null;
  stopLive();
  $('dashboard-view').hidden = true;
  $('session-box').hidden = true;
  $('login-view').hidden = false;
  if ($('detail').open) $('detail').close();
  $('username').focus();
}

async function showDashboard(session) {
  state.session = session;
  $('session-user').textContent = session.user;
  $('session-role').textContent = session.role;
  $('login-view').hidden = true;
  $('session-box').hidden = false;
  $('dashboard-view').hidden = false;
  await Promise.all([loadDevices(), loadRedOpen(), loadResults(), loadUpdates()]);
  startLive();
}

async function login(event) {
  event.preventDefault();
  const error = $('login-error');
  error.hidden = true;
  const button = event.submitter ?? $('login-form').querySelector('button');
  button.disabled = true;
  try {
    const session = await api('/api/login', { method: 'POST', body: { username: $('username').value.trim(), password: $('password').value } });
    $('password').value = '';
    await showDashboard(session);
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  await api('/api/logout', { method: 'POST' }).catch(() => undefined);
  showLogin();
}

// ---- fleet ----

async function loadDevices() {
  const { devices } = await api('/api/devices');
  renderDevices(devices);
}

function renderDevices(devices) {
  state.devices = devices;
  const rows = devices.map((device) => {
    const heartbeatStale = !device.lastHeartbeatAt || Date.now() - new Date(device.lastHeartbeatAt).getTime() > STALE_HEARTBEAT_MS;
    const condition = device.condition;
    const conditionState = condition?.state ?? 'unknown';
    return el(
      'tr',
      { 'data-testid': 'device-row', 'data-device': device.deviceId, 'data-state': device.state ?? 'unknown' },
      el('td', { 'data-label': 'Device' }, el('strong', { text: device.deviceId }), device.version ? el('span', { class: 'sub', text: `v${device.version}` }) : null),
      el('td', { 'data-label': 'Connection' }, el('span', { class: `badge ${device.state ?? 'offline'}`, text: device.state ?? 'unknown' }), el('span', { class: 'sub', title: fullTime(device.since), text: device.since ? `since ${timeAgo(device.since)}` : '' })),
      el('td', { 'data-label': 'Last heartbeat', title: fullTime(device.lastHeartbeatAt), class: heartbeatStale && device.state === 'online' ? 'stale' : '' }, timeAgo(device.lastHeartbeatAt)),
      el('td', { 'data-label': 'Model' }, device.model ? [device.model.id, el('span', { class: 'sub mono', title: device.model.sha256, text: shortHash(device.model.sha256) })] : '—'),
      el('td', { 'data-label': 'Outbox', class: 'num' }, device.outboxPending ?? '—'),
      el('td', { 'data-label': 'Disk free', class: 'num' }, bytes(device.diskFreeBytes)),
      el('td', { 'data-label': 'Lamp' }, device.lamp ? [el('span', { class: `dot ${device.lamp}` }), device.lamp] : '—'),
      el('td', { 'data-label': 'Condition' }, el('span', { class: `badge ${conditionState}`, text: conditionState }), condition?.code ? el('span', { class: 'sub mono', text: condition.code }) : null),
    );
  });
  $('fleet-body').replaceChildren(...rows);
  $('fleet-empty').hidden = devices.length > 0;
  const online = devices.filter((device) => device.state === 'online').length;
  $('fleet-summary').textContent = devices.length ? `${online} of ${devices.length} online` : '';
  renderDeviceFilter(devices);
}

function renderDeviceFilter(devices) {
  const select = $('filter-device');
  const chosen = select.value;
  const names = [...new Set([...devices.map((device) => device.deviceId), chosen].filter(Boolean))].sort();
  select.replaceChildren(el('option', { value: '', text: 'All devices' }), ...names.map((name) => el('option', { value: name, text: name })));
  select.value = chosen;
}

// ---- results ----

function filterQuery(extra = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries({ ...state.filters, ...extra })) if (value) query.set(name, value);
  return query;
}

function readFilters() {
  const local = (id) => ($(id).value ? new Date($(id).value).toISOString() : '');
  state.filters = { device: $('filter-device').value, level: $('filter-level').value, since: local('filter-since'), until: local('filter-until') };
  $('csv-link').href = `/api/results.csv?${filterQuery()}`;
}

function matchesFilters(result) {
  const { device, level, since, until } = state.filters;
  if (device && result.deviceId !== device) return false;
  if (level && result.level !== level) return false;
  if (since && result.processedAt < since) return false;
  if (until && result.processedAt >= until) return false;
  return true;
}

function noteSeq(result) {
  state.lastSeq = Math.max(state.lastSeq, result.seq);
}

async function loadResults(more = false) {
  $('results-error').hidden = true;
  try {
    const page = await api(`/api/results?${filterQuery({ limit: String(PAGE_SIZE), before: more ? state.nextCursor : '' })}`);
    state.results = more ? [...state.results, ...page.results] : page.results;
    state.nextCursor = page.nextCursor;
    page.results.forEach(noteSeq);
    renderResults();
  } catch (failure) {
    if (failure.status === 401) return;
    $('results-error').textContent = failure.message;
    $('results-error').hidden = false;
  }
}

async function loadRedOpen() {
  const page = await api('/api/results?level=RED&acknowledged=false&limit=1000');
  state.redOpen = new Map(page.results.map((result) => [result.id, result]));
  page.results.forEach(noteSeq);
  renderBanner();
  // The list may have been drawn before these arrived: pin them on top now.
  renderResults();
}

function renderBanner() {
  const count = state.redOpen.size;
  const banner = $('red-banner');
  banner.hidden = count === 0;
  banner.dataset.count = String(count);
  $('red-banner-text').textContent = `${count >= 1000 ? '1000+' : count} RED result${count === 1 ? '' : 's'} not yet acknowledged`;
  document.title = count ? `(${count}) RED · C-spine triage` : 'C-spine triage · dashboard';
}

function resultRow(result, fresh) {
  const open = result.level === 'RED' && !result.acknowledged;
  const review = result.acknowledged
    ? el('span', { class: 'acked', title: fullTime(result.acknowledged.at), text: `✓ ${result.acknowledged.by}` })
    : open
      ? el('span', { class: 'needs-ack', text: 'Needs review' })
      : el('span', { class: 'muted', text: '—' });
  return el(
    'tr',
    {
      'data-testid': 'result-row',
      'data-id': result.id,
      'data-level': result.level,
      class: [open ? 'red-open' : '', fresh ? 'fresh' : ''].join(' ').trim(),
      tabindex: '0',
      onclick: () => openDetail(result.id),
      onkeydown: (event) => event.key === 'Enter' && openDetail(result.id),
    },
    el('td', {}, levelBadge(result.level)),
    el('td', { title: fullTime(result.processedAt) }, clock(result.processedAt), el('span', { class: 'sub', text: timeAgo(result.processedAt) })),
    el('td', {}, result.deviceId),
    el('td', {}, finding(result)),
    el('td', { class: 'col-reason' }, result.reason),
    el('td', {}, review),
  );
}

function renderResults(freshIds = new Set()) {
  // Unacknowledged RED results stay on top until someone acknowledges them.
  const pinned = [...state.redOpen.values()].filter(matchesFilters).sort((a, b) => (a.processedAt < b.processedAt ? 1 : -1));
  const pinnedIds = new Set(pinned.map((result) => result.id));
  const rest = state.results.filter((result) => !pinnedIds.has(result.id));
  const rows = [...pinned, ...rest].map((result) => resultRow(result, freshIds.has(result.id)));
  $('results-body').replaceChildren(...rows);
  $('results-empty').hidden = rows.length > 0;
  $('load-more').hidden = state.nextCursor === null;
}

function upsertResult(result) {
  const index = state.results.findIndex((known) => known.id === result.id);
  if (index >= 0) state.results[index] = result;
  else if (matchesFilters(result)) {
    state.results.unshift(result);
    state.results.sort((a, b) => (a.processedAt < b.processedAt ? 1 : a.processedAt > b.processedAt ? -1 : b.seq - a.seq));
    if (state.results.length > MAX_ROWS) {
      state.results.length = MAX_ROWS;
      state.nextCursor = state.results[MAX_ROWS - 1].cursor;
    }
  }
  if (result.level === 'RED' && !result.acknowledged) state.redOpen.set(result.id, result);
  else state.redOpen.delete(result.id);
}

// ---- detail ----

function facts(entries) {
  const shown = entries.filter(([, value]) => value !== undefined && value !== null && value !== '');
  if (!shown.length) return null;
  return el('dl', { class: 'facts' }, shown.flatMap(([name, value]) => [el('dt', { text: name }), el('dd', {}, value)]));
}

/** The thresholds a result was read with, and whether a site validation chose greenMinNormal (docs/own-data.md). */
function thresholdsFact(thresholds) {
  if (!thresholds) return null;
  const levels = `GREEN ≥ ${thresholds.greenMinNormal}, RED ≥ ${thresholds.redMinAbnormal}; `;
  return el(
    'span',
    { 'data-testid': 'detail-thresholds' },
    levels,
    thresholds.validatedBy
      ? el('span', { class: 'mono', title: `validation report sha256 ${thresholds.validatedBy}`, text: `validated (report ${shortHash(thresholds.validatedBy)})` })
      : 'not validated on site films',
  );
}

function section(title, ...content) {
  const body = content.filter(Boolean);
  return body.length ? el('section', {}, el('h3', { text: title }), ...body) : null;
}

function probabilityBars(result) {
  const probabilities = result.probabilities;
  if (!probabilities) return null;
  const entries = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
  return el(
    'div',
    { class: 'bars', 'data-testid': 'probability-chart', role: 'img', 'aria-label': entries.map(([name, p]) => `${name} ${percent(p)}`).join(', ') },
    entries.map(([name, p], index) => {
      const fill = el('div', { class: 'bar-fill' });
      fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
      return el(
        'div',
        { class: `bar-row level-${result.level} ${index === 0 ? 'top' : ''}`, 'data-testid': 'probability-bar' },
        el('span', { text: name }),
        el('div', { class: 'bar-track' }, fill),
        el('span', { class: 'bar-value', text: percent(p) }),
      );
    }),
  );
}

function ackBox(result) {
  if (result.level !== 'RED') return null;
  if (result.acknowledged) {
    return el('div', { class: 'ack-box done', 'data-testid': 'ack-done' }, el('span', {}, 'Acknowledged by ', el('strong', { 'data-testid': 'ack-by', text: result.acknowledged.by }), ' at ', el('span', { 'data-testid': 'ack-at', text: fullTime(result.acknowledged.at) })));
  }
  const mayAck = state.session && state.session.role !== 'viewer';
  return el(
    'div',
    { class: 'ack-box' },
    el('strong', { text: 'RED result not yet acknowledged' }),
    mayAck
      ? el('button', { type: 'button', class: 'button ack', 'data-testid': 'ack', onclick: (event) => acknowledge(result.id, event.currentTarget) }, 'Acknowledge')
      : el('span', { class: 'muted', text: 'A clinician acknowledges it.' }),
  );
}

const PIPELINE_STEPS = ['decode', 'preprocess', 'infer', 'total'];

/** The database returns keys in its own order: show the steps as the device runs them. */
function pipelineOrder(timings) {
  const rank = (name) => (PIPELINE_STEPS.includes(name) ? PIPELINE_STEPS.indexOf(name) : PIPELINE_STEPS.length - 1.5);
  return Object.entries(timings).sort((a, b) => rank(a[0]) - rank(b[0]));
}

function renderDetail(detail) {
  const payload = detail.payload ?? {};
  const image = payload.image ?? {};
  const dicom = image.dicom;
  const timings = payload.timingsMs;
  const ood = payload.ood;
  const orientation = payload.orientation;
  const quality = payload.quality;
  $('detail-title').textContent = `${detail.deviceId} · ${clock(detail.processedAt)}`;
  $('detail-body').replaceChildren(
    ...[
      el('div', { class: 'detail-summary' }, levelBadge(detail.level), el('span', { class: 'reason', 'data-testid': 'detail-reason', text: detail.reason })),
      ackBox(detail),
      detail.outcome === 'rejected'
        ? el('div', { class: 'error-box' }, el('strong', { class: 'mono', 'data-testid': 'detail-error-code', text: detail.errorCode ?? '' }), el('div', { text: payload.error?.message ?? '' }))
        : null,
      section('Probabilities', probabilityBars(detail)),
      el(
        'div',
        { class: 'detail-grid' },
        section(
          'Result',
          facts([
            ['Processed', fullTime(detail.processedAt)],
            ['Received', fullTime(payload.receivedAt)],
            ['Outcome', detail.outcome],
            ['Label', detail.label],
            ['Model', detail.model ? detail.model.id : null],
            ['Model hash', detail.model ? el('span', { class: 'mono', title: detail.model.sha256, text: shortHash(detail.model.sha256) }) : null],
            ['Thresholds', thresholdsFact(payload.model?.thresholds)],
            ['Image ref', image.sourceRef ? el('span', { class: 'mono', text: image.sourceRef }) : null],
            ['Format', image.format],
          ]),
        ),
        section('Timings', timings ? facts(pipelineOrder(timings).map(([name, ms]) => [name, `${ms.toFixed(1)} ms`])) : null),
        section(
          'DICOM',
          dicom
            ? facts([
                ['Modality', dicom.modality],
                ['Body part', dicom.bodyPart],
                ['View', dicom.viewPosition],
                ['Acquired', dicom.acquiredAt],
                ['Study ref', dicom.studyRef ? el('span', { class: 'mono', text: dicom.studyRef }) : null],
              ])
            : null,
        ),
        section(
          'Checks',
          facts([
            ['Out of distribution', ood ? `${ood.inDistribution ? 'in distribution' : 'OUT of distribution'} (score ${ood.score.toFixed(2)}, threshold ${ood.threshold})` : null],
            ['Orientation', orientation ? `classified rotated ${orientation.rotated}°${orientation.inverted ? ', inverted' : ''}` : null],
            ['Quality', quality ? Object.entries(quality).map(([name, value]) => `${name} ${Number.isInteger(value) ? value : value.toFixed(2)}`).join(', ') : null],
          ]),
        ),
      ),
    ].filter(Boolean),
  );
}

async function openDetail(id) {
  state.detailId = id;
  $('detail-title').textContent = 'Result';
  $('detail-body').replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
  if (!$('detail').open) $('detail').showModal();
  try {
    renderDetail(await api(`/api/results/${encodeURIComponent(id)}`));
  } catch (failure) {
    $('detail-body').replaceChildren(el('p', { class: 'form-error', text: failure.message }));
  }
}

async function acknowledge(id, button) {
  button.disabled = true;
  try {
    const { result } = await api(`/api/results/${encodeURIComponent(id)}/ack`, { method: 'POST' });
    upsertResult(result);
    renderBanner();
    renderResults();
    if (state.detailId === id) renderDetail({ ...(await api(`/api/results/${encodeURIComponent(id)}`)) });
  } catch (failure) {
    button.disabled = false;
    button.replaceWith(el('span', { class: 'form-error', text: failure.message }));
  }
}

// ---- model updates ----

const ROLLOUT_DONE = new Set(['active', 'confirmed']);
const ROLLOUT_BAD = new Set(['failed', 'rolled-back']);

async function loadUpdates() {
  try {
    const [{ packages }, { rollouts }, { groups }] = await Promise.all([api('/api/packages'), api('/api/rollouts'), api('/api/device-groups')]);
    state.packages = packages;
    state.groups = groups;
    renderPackages();
    renderRolloutForm();
    await showRollouts(rollouts);
  } catch (failure) {
    if (failure.status !== 401) showRolloutError(failure.message);
  }
}

function renderPackages() {
  $('packages-body').replaceChildren(
    ...state.packages.map((found) =>
      el(
        'tr',
        { 'data-testid': 'package-row', 'data-sha': found.manifestSha256 },
        el('td', {}, el('strong', { text: found.modelId })),
        el('td', { class: 'mono', title: found.manifestSha256, text: shortHash(found.manifestSha256) }),
        el('td', { class: 'mono', text: found.keyId }),
        el('td', { class: 'num' }, mebibytes(found.totalBytes)),
        el('td', { title: fullTime(found.addedAt) }, timeAgo(found.addedAt), el('span', { class: 'sub', text: found.addedBy })),
      ),
    ),
  );
  $('packages-empty').hidden = state.packages.length > 0;
}

function renderRolloutForm() {
  $('rollout-form').hidden = !isAdmin() || state.packages.length === 0;
  if ($('rollout-form').hidden) return;
  const packageSelect = $('rollout-package');
  const chosenPackage = packageSelect.value;
  packageSelect.replaceChildren(...state.packages.map((found) => el('option', { value: found.manifestSha256, text: `${found.modelId} · ${shortHash(found.manifestSha256)}` })));
  if (state.packages.some((found) => found.manifestSha256 === chosenPackage)) packageSelect.value = chosenPackage;
  const targetSelect = $('rollout-target');
  const chosenTarget = targetSelect.value || 'devices';
  targetSelect.replaceChildren(
    el('option', { value: 'devices', text: 'Listed by id' }),
    ...state.groups.map((group) => el('option', { value: `group:${group.name}`, text: `Group ${group.name} (${group.devices.length})` })),
    el('option', { value: 'all', text: 'All devices' }),
  );
  targetSelect.value = [...targetSelect.options].some((option) => option.value === chosenTarget) ? chosenTarget : 'devices';
  $('rollout-devices-label').hidden = targetSelect.value !== 'devices';
}

function idList(text) {
  return text
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
}

async function createRollout(event) {
  event.preventDefault();
  $('rollout-error').hidden = true;
  const target = $('rollout-target').value;
  const body = { package: $('rollout-package').value };
  if (target === 'all') body.all = true;
  else if (target.startsWith('group:')) body.group = target.slice('group:'.length);
  else body.devices = idList($('rollout-devices').value);
  const canary = idList($('rollout-canary').value);
  if (canary.length) body.canary = canary;
  const button = event.submitter ?? $('rollout-form').querySelector('button');
  button.disabled = true;
  try {
    const { rollout } = await api('/api/rollouts', { method: 'POST', body });
    $('rollout-devices').value = '';
    $('rollout-canary').value = '';
    state.rolloutId = rollout.id;
    await loadUpdates();
  } catch (failure) {
    showRolloutError(failure.message);
  } finally {
    button.disabled = false;
  }
}

function showRolloutError(message) {
  $('rollout-error').textContent = message;
  $('rollout-error').hidden = false;
}

/** The rollouts list; the chosen rollout's devices are read again, the newest chosen when none is. */
async function showRollouts(rollouts) {
  state.rollouts = rollouts;
  if (!rollouts.some((rollout) => rollout.id === state.rolloutId)) state.rolloutId = rollouts[0]?.id ?? null;
  renderRollouts();
  await loadRolloutDetail();
}

function runningCount(rollout) {
  const byState = rollout.devices.byState;
  return (byState.active ?? 0) + (byState.confirmed ?? 0);
}

function renderRollouts() {
  $('rollouts-body').replaceChildren(
    ...state.rollouts.map((rollout) =>
      el(
        'tr',
        {
          'data-testid': 'rollout-row',
          'data-id': rollout.id,
          'data-state': rollout.state,
          class: rollout.id === state.rolloutId ? 'chosen' : '',
          tabindex: '0',
          onclick: () => chooseRollout(rollout.id),
          onkeydown: (event) => event.key === 'Enter' && chooseRollout(rollout.id),
        },
        el('td', {}, el('span', { class: `badge rollout-${rollout.state}`, text: rollout.state })),
        el('td', {}, rollout.package.modelId, el('span', { class: 'sub mono', title: rollout.package.manifestSha256, text: shortHash(rollout.package.manifestSha256) })),
        el('td', {}, rollout.target),
        el('td', {}, `${runningCount(rollout)} of ${rollout.devices.total} running it`, rollout.devices.canary ? el('span', { class: 'sub', text: `${rollout.devices.canary} ${rollout.devices.canary === 1 ? 'canary' : 'canaries'} first` }) : null),
        el('td', { title: fullTime(rollout.createdAt) }, timeAgo(rollout.createdAt), el('span', { class: 'sub', text: rollout.createdBy })),
      ),
    ),
  );
  $('rollouts-empty').hidden = state.rollouts.length > 0;
  const inProgress = state.rollouts.filter((rollout) => rollout.state === 'canary' || rollout.state === 'rolling').length;
  $('updates-summary').textContent = inProgress ? `${inProgress} rollout${inProgress === 1 ? '' : 's'} in progress` : '';
}

async function chooseRollout(id) {
  state.rolloutId = id;
  renderRollouts();
  await loadRolloutDetail();
}

async function loadRolloutDetail() {
  const id = state.rolloutId;
  if (!id) {
    $('rollout-detail').hidden = true;
    return;
  }
  try {
    const { devices } = await api(`/api/rollouts/${encodeURIComponent(id)}`);
    if (state.rolloutId !== id) return;
    state.rolloutDevices = devices;
    renderRolloutDetail();
  } catch (failure) {
    if (failure.status !== 401) showRolloutError(failure.message);
  }
}

function progressBar(device) {
  if (device.state !== 'downloading' || !device.bytesTotal) return null;
  const share = Math.max(0, Math.min(1, (device.bytesDone ?? 0) / device.bytesTotal));
  const fill = el('div', { class: 'progress-fill' });
  fill.style.width = `${share * 100}%`;
  return el(
    'div',
    { class: 'progress-cell' },
    el('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(share * 100)), 'data-testid': 'rollout-progress' }, fill),
    el('span', { class: 'sub', text: `${mebibytes(device.bytesDone ?? 0)} of ${mebibytes(device.bytesTotal)}` }),
  );
}

function rolloutActions(rollout) {
  if (!isAdmin()) return null;
  const action = (name, label, testid, question) =>
    el('button', { type: 'button', class: `button small ${name === 'rollback' ? 'danger' : 'ghost'}`, 'data-testid': testid, onclick: (event) => rolloutAction(rollout.id, name, event.currentTarget, question) }, label);
  return el(
    'div',
    { class: 'rollout-actions' },
    rollout.state === 'canary' ? action('advance', 'Advance to all', 'rollout-advance') : null,
    rollout.state === 'canary' || rollout.state === 'rolling' ? action('halt', 'Halt', 'rollout-halt', 'Halt this rollout? No further device gets the package.') : null,
    rollout.state !== 'rolled-back' ? action('rollback', 'Roll back', 'rollout-rollback', 'Roll back? Every device that was sent this package goes back to its previous model.') : null,
  );
}

async function rolloutAction(id, name, button, question) {
  if (question && !window.confirm(question)) return;
  button.disabled = true;
  $('rollout-error').hidden = true;
  try {
    await api(`/api/rollouts/${encodeURIComponent(id)}/${name}`, { method: 'POST' });
    await loadUpdates();
  } catch (failure) {
    button.disabled = false;
    showRolloutError(failure.message);
  }
}

function renderRolloutDetail() {
  const rollout = state.rollouts.find((candidate) => candidate.id === state.rolloutId);
  const detail = $('rollout-detail');
  detail.hidden = !rollout;
  if (!rollout) return;
  const rows = state.rolloutDevices.map((device) =>
    el(
      'tr',
      { 'data-testid': 'rollout-device-row', 'data-device': device.deviceId, 'data-state': device.state, class: ROLLOUT_BAD.has(device.state) ? 'bad' : '' },
      el('td', {}, el('strong', { text: device.deviceId })),
      el('td', {}, device.stage),
      el('td', {}, el('span', { class: `badge device-${ROLLOUT_DONE.has(device.state) ? 'done' : ROLLOUT_BAD.has(device.state) ? 'bad' : 'busy'}`, text: device.state })),
      el('td', {}, progressBar(device)),
      el('td', { class: 'col-problem' }, device.code ? el('span', { class: 'mono', text: device.code }) : null, device.message ? el('span', { class: 'sub', text: device.message }) : null),
      el('td', { title: fullTime(device.reportedAt) }, device.reportedAt ? timeAgo(device.reportedAt) : '—'),
    ),
  );
  const head = el(
    'div',
    { class: 'rollout-head' },
    el(
      'div',
      {},
      el('strong', { text: `Rollout ${shortHash(rollout.id)}` }),
      ' ',
      el('span', { class: `badge rollout-${rollout.state}`, 'data-testid': 'rollout-state', text: rollout.state }),
      el('span', { class: 'sub', text: `${rollout.package.modelId} to ${rollout.target}; auto-advance ${rollout.autoAdvance ? 'on' : 'off'}` }),
    ),
    rolloutActions(rollout),
  );
  const table = el(
    'div',
    { class: 'table-scroll' },
    el(
      'table',
      { class: 'grid rollout-devices' },
      el('thead', {}, el('tr', {}, ['Device', 'Stage', 'State', 'Progress', 'Problem', 'Reported'].map((title) => el('th', { text: title })))),
      el('tbody', {}, rows),
    ),
  );
  const reason = rollout.reason ? el('p', { class: 'rollout-reason', 'data-testid': 'rollout-reason', text: rollout.reason }) : null;
  detail.dataset.id = rollout.id;
  detail.replaceChildren(...[head, reason, table].filter(Boolean));
}

/** Reports can come many a second while packages download: one refresh at a time, one more if asked meanwhile. */
const updatesRefresh = { running: null, again: false };

function refreshRollouts(rollouts) {
  state.rollouts = rollouts;
  if (updatesRefresh.running) {
    updatesRefresh.again = true;
    return;
  }
  updatesRefresh.running = Promise.all([api('/api/packages').then(({ packages }) => (state.packages = packages)), showRollouts(state.rollouts)])
    .then(() => {
      renderPackages();
      renderRolloutForm();
    })
    .catch(() => undefined)
    .finally(() => {
      updatesRefresh.running = null;
      if (updatesRefresh.again) {
        updatesRefresh.again = false;
        refreshRollouts(state.rollouts);
      }
    });
}

// ---- live feed ----

function setLiveState(name, text) {
  const badge = $('live-state');
  badge.dataset.state = name;
  badge.textContent = text;
}

const pendingRender = { scheduled: false, fresh: new Set() };

/** One redraw per frame however fast results stream in. */
function scheduleRender(freshId) {
  if (freshId) pendingRender.fresh.add(freshId);
  if (pendingRender.scheduled) return;
  pendingRender.scheduled = true;
  requestAnimationFrame(() => {
    const fresh = pendingRender.fresh;
    pendingRender.scheduled = false;
    pendingRender.fresh = new Set();
    renderBanner();
    renderResults(fresh);
  });
}

function startLive() {
  stopLive();
  const source = new EventSource(`/api/live?after=${state.lastSeq}`);
  state.live = source;
  source.addEventListener('open', () => setLiveState('live', 'live'));
  source.addEventListener('error', () => setLiveState(source.readyState === EventSource.CLOSED ? 'down' : 'connecting', 'reconnecting…'));
  source.addEventListener('result', (event) => {
    const result = JSON.parse(event.data);
    noteSeq(result);
    upsertResult(result);
    scheduleRender(result.id);
  });
  source.addEventListener('acknowledged', (event) => {
    const result = JSON.parse(event.data);
    upsertResult(result);
    scheduleRender();
    if (state.detailId === result.id && $('detail').open) openDetail(result.id);
  });
  source.addEventListener('devices', (event) => renderDevices(JSON.parse(event.data).devices));
  source.addEventListener('rollouts', (event) => refreshRollouts(JSON.parse(event.data).rollouts));
}

function stopLive() {
  state.live?.close();
  state.live = null;
}

// ---- wiring ----

function clearFilters() {
  for (const id of ['filter-device', 'filter-level', 'filter-since', 'filter-until']) $(id).value = '';
  readFilters();
  loadResults();
}

function init() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    readFilters();
    loadResults();
  });
  $('filter-clear').addEventListener('click', clearFilters);
  $('load-more').addEventListener('click', () => loadResults(true));
  $('rollout-form').addEventListener('submit', createRollout);
  $('rollout-target').addEventListener('change', () => ($('rollout-devices-label').hidden = $('rollout-target').value !== 'devices'));
  $('detail-close').addEventListener('click', () => $('detail').close());
  $('detail').addEventListener('close', () => (state.detailId = null));
  $('detail').addEventListener('click', (event) => event.target === $('detail') && $('detail').close());
  $('red-banner').addEventListener('click', () => {
    const first = [...state.redOpen.values()].sort((a, b) => (a.processedAt < b.processedAt ? 1 : -1))[0];
    $('results-card').scrollIntoView({ behavior: 'smooth' });
    if (first) openDetail(first.id);
  });
  // Relative times ("3 min ago") age without new data.
  setInterval(() => {
    if (!state.session) return;
    renderDevices(state.devices);
    renderResults();
    renderPackages();
    renderRollouts();
    renderRolloutDetail();
  }, 30_000);
  readFilters();
  api('/api/session').then(showDashboard, () => showLogin());
}

init();
