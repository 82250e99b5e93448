/**
 * `npm run bench:sync [-- --results N]`: how fast the outbox drains to a local Mosquitto and
 * what it costs — wall time, this process's CPU time per result, and the bytes written to disk
 * per result (history + outbox + WAL). Prints the tables and writes docs/benchmarks-sync.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { configSchema } from '../src/config/schema.js';
import { createLogger } from '../src/logger.js';
import { openDatabase, type Db } from '../src/store/database.js';
import { History } from '../src/store/history.js';
import { Outbox } from '../src/store/outbox.js';
import { loadSiteSecret, Pseudonymizer } from '../src/privacy/pseudonymizer.js';
import { MqttPublisher } from '../src/sync/publisher.js';
import { recordResults } from '../src/tools/fixtures/results.js';
import { startMosquitto } from '../src/tools/services/mosquitto.js';

const DOC = fileURLToPath(new URL('../docs/benchmarks-sync.md', import.meta.url));
const WINDOWS = [1, 32, 128];
const DEVICE_ID = 'bench-device';
/** Results recorded one transaction each to measure disk writes (the rest go in one batch). */
const MEASURED_WRITES = 500;

interface DrainRun {
  window: number;
  wallMs: number;
  cpuMs: number;
}

function diskWrites(): number {
  const match = /^write_bytes: (\d+)$/m.exec(fs.readFileSync('/proc/self/io', 'utf8'));
  return match ? Number(match[1]) : Number.NaN;
}

async function drain(db: Db, url: string, secretFile: string, window: number): Promise<DrainRun> {
  const config = configSchema.parse({ deviceId: DEVICE_ID, privacy: { siteSecretFile: secretFile }, sync: { mqtt: { enabled: true, url, inflightWindow: window } } });
  const outbox = new Outbox(db);
  const history = new History(db, outbox);
  db.prepare('UPDATE outbox SET delivered_at = NULL').run();
  const publisher = new MqttPublisher(config, outbox, history, { deviceId: DEVICE_ID, pseudonymizer: new Pseudonymizer(loadSiteSecret(secretFile)), sendIdentifiers: false }, createLogger('silent'));
  const cpu = process.cpuUsage();
  const started = performance.now();
  await new Promise<void>((resolve) => {
    publisher.on('delivered', () => {
      if (outbox.backlog().pending === 0) resolve();
    });
    publisher.start();
  });
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await publisher.stop();
  if (outbox.backlog().pending !== 0) throw new Error('drain ended with rows left');
  return { window, wallMs, cpuMs: (used.user + used.system) / 1000 };
}

function table(headers: string[], rows: string[][]): { text: string; markdown: string } {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return {
    text: [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n'),
    markdown: [`| ${headers.join(' | ')} |`, `| ${headers.map((_, c) => (c === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n'),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { results: { type: 'string', default: '10000' } } });
  const total = Number(values.results);
  if (!Number.isInteger(total) || total < MEASURED_WRITES) throw new Error(`--results must be a whole number ≥ ${MEASURED_WRITES}`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-bench-sync-'));
  const broker = await startMosquitto(root);
  try {
    // Side by side: the page size the runtime uses (1 KiB) and SQLite's default (4 KiB).
    const disk = [4096, 1024].map((pageSize) => ({ pageSize, ...measureDiskWrites(path.join(root, `pages-${pageSize}.db`), pageSize) }));

    const db = openDatabase(path.join(root, 'cspine.db'));
    const history = new History(db, new Outbox(db));
    db.transaction(() => recordResults(history, total))();

    const runs: DrainRun[] = [];
    for (const window of WINDOWS) {
      if (process.stderr.isTTY) process.stderr.write(`\rbench:sync: draining ${total} with window ${window}…`);
      runs.push(await drain(db, broker.url, path.join(root, 'secret'), window));
    }
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    db.close();

    const best = runs.find((run) => run.window === 32)!;
    const drainTable = table(
      ['in-flight window', 'drain time (s)', 'results/s', 'CPU ms / result', 'time vs window 32'],
      runs.map((run) => [
        String(run.window),
        (run.wallMs / 1000).toFixed(2),
        (total / (run.wallMs / 1000)).toFixed(0),
        (run.cpuMs / total).toFixed(3),
        `${(run.wallMs / best.wallMs).toFixed(2)}×`,
      ]),
    );
    const runtime = disk.find((entry) => entry.pageSize === 1024)!;
    const diskTable = table(
      ['SQLite page size', 'bytes written per result', 'database growth per result', 'written vs 1 KiB pages'],
      disk.map((entry) => [
        `${entry.pageSize} B${entry.pageSize === 1024 ? ' (runtime)' : ' (SQLite default)'}`,
        Number.isNaN(entry.written) ? 'n/a' : entry.written.toFixed(0),
        entry.growth.toFixed(0),
        `${(entry.written / runtime.written).toFixed(2)}×`,
      ]),
    );
    const header = [
      `Command: npm run bench:sync -- --results ${total}`,
      `Date: ${new Date().toISOString()}`,
      `CPU: ${os.cpus()[0]?.model.trim() ?? 'unknown'}, ${os.availableParallelism()} cores; Node ${process.version}; Mosquitto on 127.0.0.1, MQTT 5, QoS 1`,
    ];
    const notes = [
      `Drain: ${total} results queued in the outbox, publisher started, until the last PUBACK is recorded in SQLite. CPU is this process only (building payloads from history, mqtt.js, recording deliveries in batches); the broker runs in its own process.`,
      `Disk: ${MEASURED_WRITES} results recorded one transaction each (as the service does: images + results + outbox row, synchronous=FULL, WAL), then a checkpoint, in two fresh databases that differ only in page size. Bytes written are /proc/self/io write_bytes (what reached the block layer: the WAL frames, which hold whole pages, and the checkpoint copy); growth is what stays in the database file.`,
    ];
    console.log([...header, '', drainTable.text, '', diskTable.text, '', ...notes].join('\n'));
    fs.writeFileSync(
      DOC,
      [
        '# Sync benchmark',
        '',
        'Generated by `scripts/bench-sync.ts`; rerun it rather than editing this file.',
        '',
        ...header.map((line) => `- ${line.replace(/^Command: (.*)$/, 'Command: `$1`')}`),
        '',
        '## Draining the outbox',
        '',
        drainTable.markdown,
        '',
        '## Disk writes',
        '',
        diskTable.markdown,
        '',
        ...notes.flatMap((note) => [note, '']),
      ].join('\n'),
    );
    console.log(`\nwrote ${path.relative(process.cwd(), DOC)}`);
  } finally {
    broker.child.kill('SIGTERM');
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Records results one transaction each, as the service commits them (synchronous=FULL, WAL). */
function measureDiskWrites(file: string, pageSize: number): { written: number; growth: number } {
  // A page size set before the first write sticks; openDatabase's own choice then has no effect.
  const raw = new Database(file);
  raw.pragma(`page_size = ${pageSize}`);
  raw.pragma('journal_mode = WAL');
  raw.close();
  const db = openDatabase(file);
  const history = new History(db, new Outbox(db));
  db.pragma('wal_checkpoint(TRUNCATE)');
  const sizeBefore = fs.statSync(file).size;
  const before = diskWrites();
  recordResults(history, MEASURED_WRITES);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const written = (diskWrites() - before) / MEASURED_WRITES;
  const growth = (fs.statSync(file).size - sizeBefore) / MEASURED_WRITES;
  if (db.pragma('page_size', { simple: true }) !== pageSize) throw new Error(`page size ${pageSize} did not take`);
  db.close();
  return { written, growth };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
