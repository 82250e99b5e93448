import type { Logger } from '../logger.js';

export interface AfterworkTask {
  /** For the log when it fails. */
  file: string;
  run(): Promise<void>;
}

/**
 * What follows an image once its result is committed and the lamp shows it (the heatmap
 * overlay, moving the file out of the capture folder), done one task at a time in the
 * background. Bounded: the pipeline waits for room before it takes the next image, so a slow
 * disk slows intake instead of piling up memory. A crash loses nothing: a file not yet moved
 * is still in the capture folder and is finished at restart (its result is already recorded).
 */
export class AfterworkQueue {
  private readonly waiting: AfterworkTask[] = [];
  private running: Promise<void> | undefined;
  private readonly roomWaiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];

  constructor(
    private readonly limit: number,
    private readonly logger: Logger,
  ) {}

  /** Tasks queued or running. */
  get depth(): number {
    return this.waiting.length + (this.running ? 1 : 0);
  }

  push(task: AfterworkTask): void {
    this.waiting.push(task);
    this.running ??= this.drain();
  }

  /** Resolves once fewer than `limit` tasks are queued or running. */
  async room(): Promise<void> {
    while (this.depth >= this.limit) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  /** Resolves once every task pushed so far has finished. */
  async idle(): Promise<void> {
    while (this.depth > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    for (let task = this.waiting.shift(); task !== undefined; task = this.waiting.shift()) {
      try {
        await task.run();
      } catch (error) {
        // Tasks handle their own failures; this is the net under them.
        this.logger.error({ file: task.file, err: (error as Error).message }, 'work after the result failed');
      }
      this.wake(this.roomWaiters);
    }
    this.running = undefined;
    this.wake(this.roomWaiters);
    this.wake(this.idleWaiters);
  }

  private wake(waiters: Array<() => void>): void {
    for (const resolve of waiters.splice(0)) resolve();
  }
}
