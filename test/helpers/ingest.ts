import type { ExecutionContext, TestFn } from 'ava';
import type { Config } from '../../src/config/schema.js';
import { DashboardDatabase } from '../../src/dashboard/database/database.js';
import { Ingest } from '../../src/dashboard/ingest/ingest.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { capturedLogger } from './fixtures.js';

/** One PostgreSQL cluster for the test file (started before its tests, removed after them), and fresh databases in it. */
export function postgresForFile(test: TestFn, prefix: string) {
  let cluster: TemporaryPostgres | undefined;
  let databases = 0;
  test.before(async () => {
    cluster = await TemporaryPostgres.create('postgres_seed');
  });
  test.after.always(async () => {
    await cluster?.destroy();
  });
  const started = () => {
    if (!cluster) throw new Error('the cluster starts in test.before');
    return cluster;
  };
  return {
    url: (database: string) => started().url(database),
    query: (database: string, sql: string) => started().query(database, sql),
    async newDatabase(): Promise<string> {
      const name = `${prefix}_${++databases}`;
      await started().query('postgres', `CREATE DATABASE ${name}`);
      return name;
    },
  };
}

/** A dashboard's ingest and its database, started; stopped at teardown unless `stop` ran first. */
export async function startIngest(t: ExecutionContext, settings: Config['dashboard']) {
  const log = capturedLogger();
  const store = new DashboardDatabase(settings.postgres, log.logger);
  const ingest = new Ingest(settings, store, log.logger);
  await store.start();
  await ingest.start();
  let running = true;
  const stop = async () => {
    if (!running) return;
    running = false;
    await ingest.stop();
    await store.stop();
  };
  t.teardown(stop);
  return { ingest, store, log, stop };
}

/** Polls `check` (which may query a database) every 50 ms. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
