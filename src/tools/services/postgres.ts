/**
 * A private PostgreSQL cluster for tests and benchmarks: initdb in a temporary folder, the
 * server on a free loopback port with its socket in that folder, trust authentication for the
 * `postgres` role. Nothing touches a PostgreSQL the machine already runs. Started as root (CI),
 * the server runs as the `postgres` system user, since PostgreSQL refuses to run as root.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeLoopbackPort } from './ports.js';

export interface TemporaryPostgresOptions {
  /**
   * Off for tests (a lost commit on a power cut does not matter there, and it spares the disk);
   * benchmarks keep PostgreSQL's default, on, to measure what a real server does.
   */
  fsync?: boolean;
}

/** Where initdb, postgres and psql are, side by side: PATH, then Debian's /usr/lib/postgresql/<version>/bin (newest first). */
export function postgresBinDir(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && ['initdb', 'postgres', 'psql'].every((tool) => fs.existsSync(path.join(dir, tool)))) return dir;
  }
  const debian = '/usr/lib/postgresql';
  if (!fs.existsSync(debian)) return undefined;
  const versions = fs
    .readdirSync(debian)
    .filter((version) => fs.existsSync(path.join(debian, version, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(debian, versions[0], 'bin');
}

export class TemporaryPostgres {
  readonly dir: string;
  private child: ChildProcess | undefined;
  private readonly owner: { uid: number; gid: number } | undefined;

  private constructor(
    private readonly bin: string,
    readonly port: number,
    private readonly options: TemporaryPostgresOptions,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-pg-'));
    this.owner = process.getuid?.() === 0 ? systemUser('postgres') : undefined;
  }

  /** initdb, start, and create `database`; throws when PostgreSQL's binaries are not installed. */
  static async create(database = 'cspine', options: TemporaryPostgresOptions = {}): Promise<TemporaryPostgres> {
    const bin = postgresBinDir();
    if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
    const cluster = new TemporaryPostgres(bin, await freeLoopbackPort(), options);
    try {
      if (cluster.owner) fs.chownSync(cluster.dir, cluster.owner.uid, cluster.owner.gid);
      execFileSync(path.join(bin, 'initdb'), ['-D', cluster.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-instructions', '--no-sync'], {
        stdio: ['ignore', 'ignore', 'pipe'],
        ...(cluster.owner ?? {}),
      });
      await cluster.start();
      await cluster.query('postgres', `CREATE DATABASE ${database}`);
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  /** A node-postgres / libpq URL for `database` over TCP on loopback. */
  url(database = 'cspine'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const settings = ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${this.dir}`, '-c', 'max_connections=200', '-c', `fsync=${this.options.fsync ? 'on' : 'off'}`];
    const child = spawn(path.join(this.bin, 'postgres'), ['-D', this.dataDir, '-p', String(this.port), ...settings], {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(this.owner ?? {}),
    });
    this.child = child;
    let said = '';
    child.stderr!.on('data', (chunk: Buffer) => (said = (said + chunk.toString()).slice(-4000)));
    const exited = new Promise<never>((_resolve, reject) => child.once('exit', (code) => reject(new Error(`postgres exited (${code}) while starting: ${said}`))));
    exited.catch(() => undefined);
    try {
      await Promise.race([this.waitUntilAccepting(15_000), exited]);
    } catch (error) {
      this.child = undefined;
      child.kill('SIGKILL');
      throw error;
    }
  }

  /** Fast shutdown (SIGINT): open connections are cut, committed data stays. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** psql -c, for set-up steps outside the code under test. */
  async query(database: string, sql: string): Promise<string> {
    return execFileSync(path.join(this.bin, 'psql'), ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', database, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  private async waitUntilAccepting(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.query('postgres', 'SELECT 1');
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections on port ${this.port} within ${timeoutMs} ms: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function systemUser(name: string): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  if (!line) throw new Error(`running as root, PostgreSQL needs the "${name}" system user (the postgresql package creates it)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
