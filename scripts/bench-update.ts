/**
 * `npm run bench:update` (root: it makes a network namespace): the shipped 58 MB INT8 package
 * sent as a fleet update to a real device (`node dist/cli.js run` in its own namespace) by a real
 * dashboard (`node dist/cli.js dashboard`, PostgreSQL, Mosquitto) over a link shaped three ways,
 * while phantoms keep arriving at the device every 500 ms. Measured in one run: rollout → file
 * downloaded → new model in service, the bytes the link carried against the package's size, how
 * much the switch delayed the images around it, and how long a rollback from the dashboard takes.
 * Prints the table and writes docs/benchmarks-updates.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigningKeys, signManifest } from '../src/model/signature.js';
import { sha256Hex } from '../src/hash.js';
import { generatePhantoms } from '../src/tools/synth/generate.js';
import { startMosquitto } from '../src/tools/services/mosquitto.js';
import { freeLoopbackPort } from '../src/tools/services/ports.js';
import { TemporaryPostgres } from '../src/tools/services/postgres.js';
import { ShapedLink, type LinkShape } from '../src/tools/services/shaped-link.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli.js');
const SHIPPED = path.join(ROOT, 'models/cspine-alexnet-demo');
const DOC = path.join(ROOT, 'docs/benchmarks-updates.md');
const DEVICE = 'bench-ambulance';
const IMAGE_EVERY_MS = 500;

const CONDITIONS: Array<{ name: string; shape: LinkShape }> = [
  { name: 'clean veth', shape: {} },
  { name: '20 Mbit/s, 5% loss each way', shape: { rateKbit: 20_000, lossPercent: 5 } },
  { name: '30% loss each way', shape: { lossPercent: 30 } },
];

interface Row {
  condition: string;
  packageMb: number;
  downloadedS: number;
  activeS: number;
  wireMb: number;
  images: number;
  baselineP50Ms: number;
  baselineMaxMs: number;
  switchMaxMs: number;
  lost: number;
}

function child(command: string[], env: NodeJS.ProcessEnv, log: string): ChildProcess {
  const [program, ...args] = command;
  const started = spawn(program!, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = fs.createWriteStream(log);
  started.stdout!.pipe(out);
  started.stderr!.pipe(out);
  return started;
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const run = child([process.execPath, CLI, ...args], env, '/dev/null');
  let stdout = '';
  run.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise((resolve) => run.once('exit', resolve));
  if (code !== 0) throw new Error(`cspine-edge ${args.join(' ')} exited ${String(code)}`);
  return stdout;
}

/** A copy of the shipped package under another id (so another manifest SHA-256), signed. */
function packageCopy(to: string, id: string, keyFile: string): string {
  fs.cpSync(SHIPPED, to, { recursive: true, filter: (source) => !/evaluation|README/.test(path.relative(SHIPPED, source)) });
  const manifestFile = path.join(to, 'manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { id: string };
  fs.writeFileSync(manifestFile, `${JSON.stringify({ ...manifest, id }, null, 2)}\n`);
  signManifest(to, keyFile);
  return sha256Hex(fs.readFileSync(manifestFile));
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] ?? Number.NaN;

async function main(): Promise<void> {
  if (!fs.existsSync(CLI)) throw new Error('run npm run build first');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-bench-update-'));
  const stops: Array<() => Promise<unknown> | unknown> = [() => fs.rmSync(work, { recursive: true, force: true })];
  try {
    const keys = generateSigningKeys();
    const [privateFile, publicFile] = [path.join(work, 'fleet.key'), path.join(work, 'fleet.pub')];
    fs.writeFileSync(privateFile, keys.privatePem, { mode: 0o600 });
    fs.writeFileSync(publicFile, keys.publicPem);

    const link = await ShapedLink.create();
    stops.unshift(() => link.close());
    const postgres = await TemporaryPostgres.create('fleet');
    stops.unshift(() => postgres.destroy());
    const sql = async (query: string) => (await postgres.query('fleet', query)).trim();
    const mosquitto = await startMosquitto(fs.mkdtempSync(path.join(work, 'mosquitto-')), link.hostAddress);
    stops.unshift(() => mosquitto.stop());
    const brokerPort = new URL(mosquitto.url).port;
    const httpPort = await freeLoopbackPort();
    const dashboardEnv = {
      CSPINE_DASHBOARD__POSTGRES__URL: postgres.url('fleet'),
      CSPINE_DASHBOARD__MQTT__URL: mosquitto.url,
      CSPINE_DASHBOARD__HTTP__HOST: link.hostAddress,
      CSPINE_DASHBOARD__HTTP__PORT: String(httpPort),
      CSPINE_DASHBOARD__UPDATES__DIR: path.join(work, 'dashboard-packages'),
      CSPINE_DASHBOARD__UPDATES__TRUSTED_KEYS: JSON.stringify([publicFile]),
      CSPINE_LOG__LEVEL: 'warn',
    };
    const dashboard = child([process.execPath, CLI, 'dashboard'], dashboardEnv, path.join(work, 'dashboard.log'));
    stops.unshift(() => dashboard.kill('SIGTERM'));
    await until(() => fetch(`http://${link.hostAddress}:${httpPort}/healthz`).then((r) => (r.ok ? true : undefined), () => undefined), 'the dashboard', 60_000);

    const updates = CONDITIONS.map((condition, i) => {
      const dir = path.join(work, 'built', `next-${i}`);
      return { condition, dir, sha: packageCopy(dir, `cspine-alexnet-demo-next-${i}`, privateFile) };
    });
    for (const update of updates) await cli(['dashboard', 'package', 'add', update.dir], dashboardEnv);
    const packageBytes = Number(await sql(`SELECT total_bytes FROM model_packages WHERE manifest_sha256 = '${updates[0]!.sha}'`));

    const device = path.join(work, 'device');
    packageCopy(path.join(device, 'models', 'cspine-alexnet-demo'), 'cspine-alexnet-demo', privateFile);
    const phantoms = path.join(work, 'phantoms');
    await generatePhantoms({ outDir: phantoms, count: 600, seed: 9191 });
    const images = fs.readdirSync(phantoms, { recursive: true }).map(String).filter((name) => name.endsWith('.png'));
    const capture = path.join(device, 'capture');
    fs.mkdirSync(capture, { recursive: true });
    const deviceProcess = child(
      link.inside([process.execPath, CLI, 'run']),
      {
        CSPINE_DEVICE_ID: DEVICE,
        CSPINE_CAPTURE__DIR: capture,
        CSPINE_CAPTURE__STABLE_WINDOW_MS: '0',
        CSPINE_STORE__PATH: path.join(device, 'data', 'cspine.db'),
        CSPINE_CAPTURE__PROCESSED_DIR: path.join(device, 'data', 'processed'),
        CSPINE_CAPTURE__REJECTED_DIR: path.join(device, 'data', 'rejected'),
        CSPINE_PRIVACY__SITE_SECRET_FILE: path.join(device, 'data', 'site-secret'),
        CSPINE_IMAGING__HEATMAP_DIR: path.join(device, 'data', 'heatmaps'),
        CSPINE_MODEL__DIR: path.join(device, 'models'),
        CSPINE_MODEL__TRUSTED_KEYS: JSON.stringify([publicFile]),
        CSPINE_INDICATORS__BACKEND: 'simulated',
        CSPINE_INDICATORS__RENDER: 'false',
        CSPINE_SYNC__MQTT__ENABLED: 'true',
        CSPINE_SYNC__MQTT__URL: `mqtt://${link.hostAddress}:${brokerPort}`,
        CSPINE_SYNC__MQTT__KEEPALIVE_SEC: '10',
        CSPINE_SYNC__MQTT__RECONNECT_MAX_MS: '3000',
        CSPINE_UPDATES__ENABLED: 'true',
        CSPINE_UPDATES__URL: `http://${link.hostAddress}:${httpPort}`,
        CSPINE_UPDATES__STALL_TIMEOUT_MS: '10000',
        CSPINE_UPDATES__RETRY_MAX_MS: '3000',
        CSPINE_UPDATES__CONFIRM_AFTER_MS: '5000',
        CSPINE_LOG__LEVEL: 'info',
      },
      path.join(work, 'device.log'),
    );
    stops.unshift(() => deviceProcess.kill('SIGTERM'));
    await until(async () => ((await sql(`SELECT state FROM devices WHERE device_id = '${DEVICE}'`)) === 'online' ? true : undefined), 'the device online', 120_000);

    let dropped = 0;
    const dropping = setInterval(() => {
      const name = images[dropped % images.length]!;
      fs.copyFileSync(path.join(phantoms, name), path.join(capture, `p${dropped++}-${path.basename(name)}`));
    }, IMAGE_EVERY_MS);
    stops.unshift(() => clearInterval(dropping));

    const rows: Row[] = [];
    for (const { condition, sha } of updates) {
      await link.shape({});
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await link.shape(condition.shape);
      const wireBefore = link.bytesCarried();
      const created = new Date();
      await cli(['dashboard', 'rollout', 'create', '--package', sha, '--devices', DEVICE, '--canary-percent', '0'], dashboardEnv);
      const stepAt = (state: string) =>
        until(async () => (await sql(`SELECT extract(epoch FROM min(u.at)) FROM update_reports u JOIN rollouts r ON r.id = u.rollout_id WHERE r.package_sha256 = '${sha}' AND u.state = '${state}'`)) || undefined, `${state} for ${condition.name}`, 900_000);
      const testing = Number(await stepAt('testing'));
      const active = Number(await stepAt('active'));
      const wireBytes = link.bytesCarried() - wireBefore;
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const rowsAround = await sql(
        `SELECT extract(epoch FROM (payload->>'receivedAt')::timestamptz), extract(epoch FROM processed_at) FROM results WHERE processed_at > to_timestamp(${created.getTime() / 1000}) ORDER BY processed_at`,
      );
      const delays = rowsAround.split('\n').filter(Boolean).map((line) => line.split('|').map(Number) as [number, number]);
      const baseline = delays.filter(([received]) => received < testing - 1).map(([received, processed]) => (processed - received) * 1000);
      const aroundSwitch = delays.filter(([received]) => received >= testing - 1 && received <= active + 1).map(([received, processed]) => (processed - received) * 1000);
      rows.push({
        condition: condition.name,
        packageMb: packageBytes / 1e6,
        downloadedS: testing - created.getTime() / 1000,
        activeS: active - created.getTime() / 1000,
        wireMb: wireBytes / 1e6,
        images: aroundSwitch.length,
        baselineP50Ms: percentile(baseline, 50),
        baselineMaxMs: Math.max(...baseline),
        switchMaxMs: Math.max(...aroundSwitch),
        lost: 0,
      });
      console.log(JSON.stringify(rows.at(-1)));
    }

    await link.shape({});
    const lastRollout = await sql(`SELECT id FROM rollouts ORDER BY created_at DESC LIMIT 1`);
    const rollbackStarted = Date.now();
    await cli(['dashboard', 'rollout', 'rollback', lastRollout], dashboardEnv);
    await until(async () => ((await sql(`SELECT state FROM rollout_devices WHERE rollout_id = '${lastRollout}'`)) === 'rolled-back' ? true : undefined), 'the rollback', 120_000);
    const rollbackS = (Date.now() - rollbackStarted) / 1000;

    clearInterval(dropping);
    const total = dropped;
    await until(async () => (Number(await sql(`SELECT count(*) FROM results WHERE device_id = '${DEVICE}'`)) >= total ? true : undefined), `all ${total} results`, 120_000);
    const stored = Number(await sql(`SELECT count(DISTINCT payload->'image'->>'sha256') FROM results`));
    const lost = total - Number(await sql(`SELECT count(*) FROM results WHERE device_id = '${DEVICE}'`));
    for (const row of rows) row.lost = lost;
    printAndWrite(rows, rollbackS, total, stored);
  } finally {
    for (const stop of stops) await Promise.resolve(stop()).catch(() => undefined);
  }
}

function printAndWrite(rows: Row[], rollbackS: number, total: number, stored: number): void {
  const header = '| link | package | rollout → downloaded | → new model in service | carried by the link | images around the switch | image delay before: p50, max | image delay max around the switch |';
  const lines = rows.map(
    (row) =>
      `| ${row.condition} | ${row.packageMb.toFixed(1)} MB | ${row.downloadedS.toFixed(1)} s | ${row.activeS.toFixed(1)} s | ${row.wireMb.toFixed(1)} MB (${(row.wireMb / row.packageMb).toFixed(2)}×) | ${row.images} | ${row.baselineP50Ms.toFixed(0)} ms, ${row.baselineMaxMs.toFixed(0)} ms | ${row.switchMaxMs.toFixed(0)} ms |`,
  );
  const table = [header, '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |', ...lines].join('\n');
  const summary = `Rollback from the dashboard (\`rollout rollback\` → the device reports the previous package back in service): ${rollbackS.toFixed(1)} s. Images dropped during the run: ${total}; at the dashboard: ${stored} distinct, none lost.`;
  console.log(`\n${table}\n\n${summary}`);
  const doc = fs.readFileSync(DOC, 'utf8');
  const start = doc.indexOf('<!-- bench:update -->');
  const end = doc.indexOf('<!-- /bench:update -->');
  if (start < 0 || end < 0) throw new Error(`${DOC} lacks the bench:update markers`);
  const stamp = `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}.`;
  fs.writeFileSync(DOC, `${doc.slice(0, start)}<!-- bench:update -->\n${stamp}\n\n${table}\n\n${summary}\n${doc.slice(end)}`);
}

await main();
