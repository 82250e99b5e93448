import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../logger.js';

/** node-cron jobs that never overlap themselves and whose failures are logged, not thrown. */
export class JobScheduler {
  private readonly tasks: ScheduledTask[] = [];

  constructor(private readonly logger: Logger) {}

  /** `expression` "off" leaves the job out. */
  add(name: string, expression: string, job: () => Promise<unknown> | unknown): void {
    if (expression === 'off') return;
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

  async stop(): Promise<void> {
    await Promise.all(this.tasks.map((task) => task.destroy()));
    this.tasks.length = 0;
  }
}
