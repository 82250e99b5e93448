import { spawn } from 'node:child_process';

/**
 * onnxruntime-node 1.30 reads /proc/self/cmdline while its environment starts (the first
 * InferenceSession.create) and recurses about three stack frames, some 290 bytes of stack, per
 * byte of it: with the usual 8 MiB main stack a process whose command line is longer than about
 * 29 KB dies with SIGSEGV there (4 MiB: 14 KB), whatever the model. A process that will load
 * ONNX Runtime keeps its command line under this, where that recursion needs about 1.2 MB.
 */
export const ORT_SAFE_COMMAND_LINE_BYTES = 4096;

/** This process's command line, as /proc/self/cmdline holds it (NUL-terminated arguments), in bytes. */
export function commandLineBytes(): number {
  return [process.argv0, ...process.execArgv, ...process.argv.slice(1)].reduce((bytes, arg) => bytes + Buffer.byteLength(arg) + 1, 0);
}

/** Forwarded to the child: it finishes or stops the way it would have without the extra process. */
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs this CLI again (same node, node options and script) as `cspine-edge ...args` with `input`
 * on its stdin, sharing this process's stdout and stderr. Resolves to the child's exit status;
 * a child ended by a signal ends this process with the same signal.
 */
export function rerunWithInput(args: readonly string[], input: string): Promise<number> {
  const script = process.argv[1];
  if (script === undefined) throw new Error('cannot run the CLI again: process.argv has no script');
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: ['pipe', 'inherit', 'inherit'] });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  // A child that stops before reading all of it (e.g. a bad configuration, exit 78) says why itself.
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const forwarded of FORWARDED_SIGNALS) process.off(forwarded, forward);
      if (signal === null) resolve(code ?? 1);
      else process.kill(process.pid, signal);
    });
  });
}
