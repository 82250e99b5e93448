/**
 * A private Mosquitto for benchmarks, on a free loopback port with anonymous access and no
 * persistence: a benchmark measures throughput, not crash recovery (the tests do that).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findExecutable } from '../../executable.js';
import { freeLoopbackPort, waitForPort } from './ports.js';

export interface RunningMosquitto {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export function mosquittoPath(): string | undefined {
  return findExecutable('mosquitto', ['/usr/sbin', '/usr/local/sbin']);
}

/** Starts mosquitto with its config in `dir` (also listening on `alsoOn`, same port); resolves once it accepts connections. */
export async function startMosquitto(dir: string, alsoOn?: string): Promise<RunningMosquitto> {
  const binary = mosquittoPath();
  if (!binary) throw new Error('mosquitto is not installed (apt-get install mosquitto)');
  const port = await freeLoopbackPort();
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, [`listener ${port} 127.0.0.1`, ...(alsoOn ? [`listener ${port} ${alsoOn}`] : []), 'allow_anonymous true', 'log_dest none', 'max_queued_messages 100000', ...(process.getuid?.() === 0 ? ['user root'] : [])].join('\n'));
  const child = spawn(binary, ['-c', conf], { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitForPort(port, 5000);
  } catch (error) {
    await stop();
    throw new Error(`mosquitto did not start: ${(error as Error).message}`);
  }
  return { url: `mqtt://127.0.0.1:${port}`, child, stop };
}
