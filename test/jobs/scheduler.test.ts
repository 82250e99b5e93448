import test from 'ava';
import { JobScheduler } from '../../src/jobs/scheduler.js';
import { capturedLogger, waitFor } from '../helpers/fixtures.js';

test('runs a job on its node-cron schedule, logs its failure and goes on; "off" never runs', async (t) => {
  const log = capturedLogger();
  const jobs = new JobScheduler(log.logger);
  t.teardown(() => jobs.stop());
  let runs = 0;
  let offRuns = 0;
  jobs.add('every-second', '* * * * * *', () => {
    runs++;
    if (runs === 1) throw new Error('first run fails');
  });
  jobs.add('disabled', 'off', () => offRuns++);
  await jobs.start();
  await waitFor(() => runs >= 2, 5000, 'two runs');
  t.is(offRuns, 0);
  t.true(log.lines.some((line) => line.job === 'every-second' && line.err === 'first run fails'));
});
