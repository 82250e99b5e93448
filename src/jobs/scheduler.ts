import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../logger.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';

interface JobSpec {
  name: string;
  expression: string;
  job: () => Promise<unknown> | unknown;
}

/**
 * Scheduled work as one capability: jobs are declared with `add` and run on their node-cron
 * schedules from start to stop. A job never overlaps itself; its failures are logged, not thrown.
 */
export class JobScheduler implements Capability {
  readonly name = 'jobs';
  private readonly specs: JobSpec[] = [];
  private readonly tasks: ScheduledTask[] = [];

  constructor(private readonly logger: Logger) {}

  /** `expression` "off" leaves the job out. */
  add(name: string, expression: string, job: () => Promise<unknown> | unknown): this {
    if (expression !== 'off') this.specs.push({ name, expression, job });
    return this;
  }

  async start(): Promise<void> {
    for (const { name, expression, job } of this.specs) {
      const task = cron.schedule(
        expression,
        async () => {
          try {
            await job();
          } catch (error) {
            this.logger.error({ job: name, err: (error as Error).message }, 'scheduled job failed');
          }
        },
        { name, noOverlap: true },
      );
      this.tasks.push(task);
      this.logger.debug({ job: name, expression, next: task.getNextRun() }, 'job scheduled');
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.tasks.map((task) => task.destroy()));
    this.tasks.length = 0;
  }

  health(): CapabilityHealth {
    const next = this.tasks.map((task) => `${task.name ?? '?'} next ${task.getNextRun()?.toISOString() ?? 'never'}`);
    return { status: 'ok', detail: next.length > 0 ? next.join('; ') : 'no jobs scheduled' };
  }
}
