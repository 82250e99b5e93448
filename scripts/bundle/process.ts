import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

/** A failure the person running the bundle can act on: printed without a stack trace. */
export class BundleError extends Error {}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs a program to completion and resolves to its stdout. Its output is kept, not shown: on
 * failure the error carries the last lines of it, which is where compilers and npm say why.
 */
export function run(what: string, program: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new BundleError(`${what}: ${program} not found`) : error),
    );
    child.once('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new BundleError(`${what} failed (${signal ?? `exit ${code}`}):\n${lastLines(output, 40)}`));
    });
  });
}

/**
 * npm, its errors kept whatever loglevel an outer `npm run -s` passed down in the environment;
 * named in errors by its command and operands.
 */
export function npm(args: readonly string[], options: RunOptions = {}): Promise<string> {
  return run(`npm ${args.filter((arg) => !arg.startsWith('-')).join(' ')}`, 'npm', [...args, '--loglevel=notice'], options);
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).map((line) => `  | ${line}`).join('\n');
}

/** The program's path on PATH, or undefined: checked up front so that a missing tool is named with its apt package. */
export async function which(program: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, program);
    try {
      await fs.access(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this PATH entry
    }
  }
  return undefined;
}

/**
 * Every regular file below `root`, as paths relative to it with "/" separators, sorted. The
 * bundle is only directories and regular files (a symbolic link would be a second name that
 * SHA256SUMS cannot vouch for), so anything else is an error.
 */
export async function listFiles(root: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    const entries = await fs.readdir(path.join(root, relative), { withFileTypes: true });
    for (const entry of entries) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) files.push(child);
      else throw new BundleError(`${child} in the bundle is neither a file nor a directory`);
    }
  };
  await walk('');
  return files.sort();
}

/** Removes the directories below `root` (not `root` itself) that hold nothing once their own empty ones are gone. */
export async function removeEmptyDirectories(root: string): Promise<void> {
  const entries = await fs.readdir(root, { withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(root, entry.name);
    await removeEmptyDirectories(dir);
    if ((await fs.readdir(dir)).length === 0) await fs.rmdir(dir);
  }
}
