/** The product's own processes (`cspine-edge run`, `cspine-edge dashboard`) as children of a test. */
import type { ChildProcess } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { freeLoopbackPort } from '../../src/tools/services/ports.js';
import type { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import type { TestBroker } from './brokers.js';
import { spawnCli } from './cli.js';

export interface RunningProcess {
  child: ChildProcess;
  /** Everything it wrote so far, stdout and stderr interleaved. */
  output: () => string;
}

/** Runs the CLI with `args` (through `wrap`, e.g. into a network namespace); stopped with SIGTERM when the test ends. */
export function startProcess(t: ExecutionContext, args: string[], env: NodeJS.ProcessEnv, wrap?: (command: string[]) => string[]): RunningProcess {
  const child = spawnCli(args, env, undefined, 'ignore', wrap);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });
  return { child, output: () => output };
}

/** Polls `probe` (sync or async) until it gives a value; throws naming `what` after `timeoutMs`. */
export async function until<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The dashboard's settings for a child process, on its own database, broker and port (`host`: where it listens). */
export async function dashboardEnv(postgres: TemporaryPostgres, broker: TestBroker, database: string, host = '127.0.0.1'): Promise<NodeJS.ProcessEnv & { url: string }> {
  const port = await freeLoopbackPort();
  return {
    CSPINE_DASHBOARD__POSTGRES__URL: postgres.url(database),
    CSPINE_DASHBOARD__MQTT__URL: broker.url,
    CSPINE_DASHBOARD__MQTT__RECONNECT_MS: '200',
    CSPINE_DASHBOARD__HTTP__HOST: host,
    CSPINE_DASHBOARD__HTTP__PORT: String(port),
    CSPINE_DASHBOARD__HTTP__SECURE_COOKIES: 'false',
    CSPINE_DASHBOARD__INSTANCE_ID: database,
    CSPINE_LOG__LEVEL: 'info',
    url: `http://${host}:${port}`,
  };
}

/** Whether the dashboard at `url` answers /healthz with 200. */
export async function healthy(url: string): Promise<boolean> {
  return fetch(`${url}/healthz`).then(
    (response) => response.ok,
    () => false,
  );
}
