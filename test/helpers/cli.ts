import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built CLI, as `npx cspine-edge` runs it (npm test builds first). */
export const CLI = path.join(ROOT, 'dist/cli.js');
const REPORT_RSS = path.join(ROOT, 'src/tools/bench/report-rss.mjs');
/** As `NODE_OPTIONS: \`--import=${ORT_GUARD}\``: exit 99 where ONNX Runtime is loaded with a long command line. */
export const ORT_GUARD = path.join(ROOT, 'test/helpers/ort-guard.mjs');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  maxRssMb: number | undefined;
}

/** `wrap` puts the command inside another (e.g. `ip netns exec NAME`). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT, stdin: 'ignore' | 'pipe' = 'ignore', wrap = (command: string[]) => command): ChildProcess {
  const [program, ...rest] = wrap([process.execPath, '--import', REPORT_RSS, CLI, ...args]);
  return spawn(program!, rest, {
    cwd,
    env: { ...process.env, ...env },
    stdio: [stdin, 'pipe', 'pipe'],
  });
}

/** `input`, when given, is the CLI's stdin. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT, input?: string): Promise<CliRun> {
  const started = Date.now();
  const child = spawnCli(args, env, cwd, input === undefined ? 'ignore' : 'pipe');
  child.stdin?.end(input);
  return collect(child, started);
}

export function collect(child: ChildProcess, started = Date.now()): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const rss = /maxrss_kib=(\d+)/.exec(stderr);
      resolve({ code, signal, stdout, stderr, wallMs: Date.now() - started, maxRssMb: rss ? Number(rss[1]) / 1024 : undefined });
    });
  });
}

export function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
