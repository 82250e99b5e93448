/**
 * `npm run bench:dashboard [-- --devices 50 --results 20000]`: a simulated fleet publishes
 * results to a local Mosquitto as fast as the broker takes them; the dashboard (the built CLI,
 * `node dist/cli.js dashboard`, as one process and then as two sharing the subscription) stores
 * them in its own PostgreSQL (fsync on) and pushes them to a page's live feed. Measured side by
 * side in one run: ingest throughput (first publish → last row visible), publish → visible
 * latency on the live feed (Server-Sent Events, as the page gets it), and each dashboard
 * process's resident memory. Prints the table and writes docs/benchmarks-dashboard.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { simulatedResult, type Level } from '../src/tools/fixtures/payloads.js';
import { startMosquitto } from '../src/tools/services/mosquitto.js';
import { freeLoopbackPort } from '../src/tools/services/ports.js';
import { TemporaryPostgres } from '../src/tools/services/postgres.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli.js');
const DOC = path.join(ROOT, 'docs/benchmarks-dashboard.md');
const USER = 'bench';
const PASSWORD = 'bench-password-1';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '50' },
    results: { type: 'string', default: '20000' },
    lanes: { type: 'string', default: '' },
  },
});
const DEVICES = Number(values.devices);
const RESULTS = Number(values.results);

/** Offered load of the paced runs: the issue's throughput target. */
const PACED_RATE = 2000;

interface Run {
  processes: number;
  /** Results per second offered; undefined = as fast as the broker takes them. */
  rate: number | undefined;
  seconds: number;
  throughput: number;
  p50: number;
  p99: number;
  max: number;
  rssStartMb: number[];
  /** After half the results: with the end value, whether memory grows with the results or levels off. */
  rssHalfwayMb: number[];
  rssPeakMb: number[];
  rssEndMb: number[];
  /** CPU time of the dashboard processes per result stored (ingest, live feed, page queries). */
  cpuMsPerResult: number;
  /** PostgreSQL bytes per result: the results table with its indexes and TOAST. */
  bytesPerResult: number;
  stored: number;
}

interface Dashboard {
  child: ChildProcess;
  url: string;
  rss: number[];
  sampler: NodeJS.Timeout;
}

async function main(): Promise<void> {
  if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: npm run build first');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-bench-dashboard-'));
  const postgres = await TemporaryPostgres.create('postgres_seed', { fsync: true });
  const broker = await startMosquitto(dir);
  const runs: Run[] = [];
  try {
    for (const processes of [1, 2]) {
      for (const rate of [undefined, PACED_RATE]) {
        process.stderr.write(`${processes} dashboard process(es), ${rate === undefined ? 'burst' : `${rate}/s offered`}: ${DEVICES} devices, ${RESULTS} results\n`);
        runs.push(await measure(processes, rate, postgres, broker.url));
      }
    }
  } finally {
    await broker.stop();
    await postgres.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const table = render(runs);
  process.stdout.write(`${table}\n`);
  fs.writeFileSync(DOC, document(table));
  process.stderr.write(`written ${path.relative(ROOT, DOC)}\n`);
}

async function measure(processes: number, rate: number | undefined, postgres: TemporaryPostgres, brokerUrl: string): Promise<Run> {
  const run = `${processes}_${rate ?? 'burst'}`;
  const database = `bench_${run}`;
  const env = {
    CSPINE_DASHBOARD__POSTGRES__URL: postgres.url(database),
    CSPINE_DASHBOARD__MQTT__URL: brokerUrl,
    // A fresh group per run: the previous run's sessions stay in theirs.
    CSPINE_DASHBOARD__MQTT__SHARE_GROUP: `bench-${run}`,
    ...(values.lanes ? { CSPINE_DASHBOARD__MQTT__LANES: values.lanes } : {}),
    CSPINE_DASHBOARD__HTTP__SECURE_COOKIES: 'false',
    CSPINE_LOG__LEVEL: 'warn',
  };
  await cli(['dashboard', 'user', 'add', USER, '--role', 'viewer', '--password-stdin'], env, `${PASSWORD}\n`);
  const dashboards: Dashboard[] = [];
  for (let i = 0; i < processes; i++) dashboards.push(await startDashboard({ ...env, CSPINE_DASHBOARD__INSTANCE_ID: `bench-${run}-${i}` }));
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rssStartMb = dashboards.map((dashboard) => dashboard.rss.at(-1) ?? 0);
    const cpuBefore = dashboards.map((dashboard) => cpuMs(dashboard.child.pid));
    const feed = await liveFeed(dashboards[0]!.url);
    const fleet = await connectFleet(brokerUrl);
    const started = Date.now();
    const publishing = publishAll(fleet, rate);
    await feed.until(RESULTS / 2, 300_000);
    const rssHalfwayMb = dashboards.map((dashboard) => residentMb(dashboard.child.pid) ?? 0);
    await feed.until(RESULTS, 300_000);
    const seconds = (Date.now() - started) / 1000;
    await publishing;
    feed.close();
    await Promise.all(fleet.map((client) => client.endAsync()));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const latencies = feed.latencies.sort((a, b) => a - b);
    const cpu = dashboards.reduce((sum, dashboard, i) => sum + cpuMs(dashboard.child.pid) - cpuBefore[i]!, 0);
    const stored = Number((await postgres.query(database, 'SELECT count(*) FROM results')).trim());
    const bytes = Number((await postgres.query(database, "SELECT pg_total_relation_size('results')")).trim());
    return {
      processes,
      rate,
      seconds,
      throughput: RESULTS / seconds,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      max: latencies.at(-1) ?? NaN,
      rssStartMb,
      rssHalfwayMb,
      rssPeakMb: dashboards.map((dashboard) => Math.max(...dashboard.rss)),
      rssEndMb: dashboards.map((dashboard) => dashboard.rss.at(-1) ?? 0),
      cpuMsPerResult: cpu / stored,
      bytesPerResult: bytes / stored,
      stored,
    };
  } finally {
    for (const dashboard of dashboards) await stopDashboard(dashboard);
  }
}

async function connectFleet(url: string): Promise<MqttClient[]> {
  return Promise.all(Array.from({ length: DEVICES }, (_unused, i) => mqtt.connectAsync(url, { clientId: `bench-device-${i}`, protocolVersion: 5, clean: true })));
}

/**
 * Each device publishes its share, QoS 1, up to 32 unacknowledged at a time as the device does:
 * as fast as the broker takes them, or paced so that the fleet offers `rate` results per second.
 */
async function publishAll(fleet: MqttClient[], rate: number | undefined): Promise<void> {
  const perDevice = Math.ceil(RESULTS / fleet.length);
  const started = Date.now();
  await Promise.all(
    fleet.map(async (client, device) => {
      const deviceId = `amb-${String(device).padStart(3, '0')}`;
      const count = Math.min(perDevice, RESULTS - device * perDevice);
      let next = 0;
      const lane = async () => {
        while (next < count) {
          const i = next++;
          if (rate !== undefined) {
            // Devices are staggered within each interval so the fleet does not publish in bursts.
            const due = started + ((i + device / fleet.length) * fleet.length * 1000) / rate;
            if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
          }
          const level: Level = i % 50 === 0 ? 'RED' : i % 10 === 0 ? 'AMBER' : 'GREEN';
          await client.publishAsync(`cspine/v1/${deviceId}/result`, JSON.stringify(simulatedResult(deviceId, level, { image: device * perDevice + i })), { qos: 1 });
        }
      };
      await Promise.all(Array.from({ length: 32 }, lane));
    }),
  );
}

/** The page's live feed: logs in, reads /api/live, and times each result from its processedAt (set at publish). */
async function liveFeed(url: string) {
  const login = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: USER, password: PASSWORD }) });
  if (!login.ok) throw new Error(`login failed: ${login.status} ${await login.text()}`);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  const abort = new AbortController();
  const response = await fetch(`${url}/api/live`, { headers: { cookie, accept: 'text/event-stream' }, signal: abort.signal });
  if (!response.ok || !response.body) throw new Error(`live feed: ${response.status}`);
  const latencies: number[] = [];
  const seen = new Set<string>();
  let waiting: { count: number; resolve: () => void } | undefined;
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!/^event: result$/m.test(message)) continue;
          const data = /^data: (.*)$/m.exec(message)?.[1];
          if (!data) continue;
          const result = JSON.parse(data) as { id: string; processedAt: string };
          if (seen.has(result.id)) continue;
          seen.add(result.id);
          latencies.push(Date.now() - Date.parse(result.processedAt));
          if (waiting && seen.size >= waiting.count) waiting.resolve();
        }
      }
    } catch {
      // aborted at the end of the run
    }
  })();
  return {
    latencies,
    until: (count: number, timeoutMs: number) =>
      new Promise<void>((resolve, reject) => {
        if (seen.size >= count) return resolve();
        const timer = setTimeout(() => reject(new Error(`only ${seen.size} of ${count} results reached the live feed in ${timeoutMs} ms`)), timeoutMs);
        waiting = {
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      }),
    close: () => abort.abort(),
  };
}

async function startDashboard(env: Record<string, string>): Promise<Dashboard> {
  const port = await freeLoopbackPort();
  const child = spawn(process.execPath, [CLI, 'dashboard'], { env: { ...process.env, ...env, CSPINE_DASHBOARD__HTTP__PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  let said = '';
  child.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const rss: number[] = [];
  const sampler = setInterval(() => {
    const mb = residentMb(child.pid);
    if (mb !== undefined) rss.push(mb);
  }, 250);
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the dashboard exited: ${said}`);
    const ready = await fetch(`${url}/healthz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (i > 200) throw new Error(`the dashboard did not answer /healthz: ${said}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, url, rss, sampler };
}

async function stopDashboard(dashboard: Dashboard): Promise<void> {
  clearInterval(dashboard.sampler);
  if (dashboard.child.exitCode !== null) return;
  const exited = new Promise((resolve) => dashboard.child.once('exit', resolve));
  dashboard.child.kill('SIGTERM');
  await exited;
}

/** utime + stime of a process, in ms (clock ticks of 10 ms, as on every Linux we run on). */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

function residentMb(pid: number | undefined): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

async function cli(args: string[], env: Record<string, string>, input: string): Promise<void> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'ignore', 'pipe'] });
  let said = '';
  child.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()));
  child.stdin!.end(input);
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`cspine-edge ${args.join(' ')} exited ${String(code)}: ${said}`);
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function render(runs: Run[]): string {
  const mb = (values: number[]) => values.map((value) => value.toFixed(0)).join(' / ');
  return [
    '| dashboard processes | offered | results | wall (s) | ingested/s | publish → visible p50 (ms) | p99 (ms) | max (ms) | RSS start (MB) | RSS halfway (MB) | RSS end (MB) | RSS peak (MB) | dashboard CPU per result (ms) | PostgreSQL bytes per result | stored |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...runs.map(
      (run) =>
        `| ${run.processes} | ${run.rate === undefined ? 'all at once' : `${run.rate}/s`} | ${RESULTS} | ${run.seconds.toFixed(1)} | ${run.throughput.toFixed(0)} | ${run.p50.toFixed(0)} | ${run.p99.toFixed(0)} | ${run.max.toFixed(0)} | ${mb(run.rssStartMb)} | ${mb(run.rssHalfwayMb)} | ${mb(run.rssEndMb)} | ${mb(run.rssPeakMb)} | ${run.cpuMsPerResult.toFixed(2)} | ${run.bytesPerResult.toFixed(0)} | ${run.stored} |`,
    ),
  ].join('\n');
}

function document(table: string): string {
  return `# Dashboard benchmark

\`npm run bench:dashboard\` (scripts/bench-dashboard.ts), ${new Date().toISOString().slice(0, 10)}, on this project's
machine (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}). ${DEVICES} simulated devices publish ${RESULTS} results
(QoS 1, up to 32 in flight each) to a local Mosquitto, all at once (as fast as the broker takes them:
the throughput rows) or paced at ${PACED_RATE}/s for the whole fleet (the latency rows); the dashboard, the
built CLI, stores them in its own PostgreSQL cluster (fsync on) and a logged-in client reads them on
the page's live feed (\`/api/live\`). Everything (publishers, broker, dashboards, PostgreSQL, feed
reader) shares the same ${os.cpus().length} cores. *Visible* is when the result arrives on the live feed;
latency runs from the payload's \`processedAt\`, stamped just before it is published. RSS per
dashboard process, sampled every 250 ms (start = 1 s after /healthz answered; halfway = when half the
results had reached the feed; end = when all had, one second later).

${table}

Target (issue 15): ≥ 2,000 results/s ingested, p99 ≤ 1 s, flat memory.
`;
}

await main();
