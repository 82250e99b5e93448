import { CspineError, ErrorCode, toCspineError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Capability, CapabilityHealth } from './capability.js';

/** A capability could not start; `cause` is its own error (a ConfigError decides the exit status). */
export class StartupError extends CspineError {
  constructor(
    readonly capability: string,
    readonly problem: CspineError,
  ) {
    super(ErrorCode.START_FAILED, `cannot start ${capability}: ${problem.code}: ${problem.message}`, { cause: problem });
  }
}

/**
 * Starts capabilities in the order given (each may use those before it) and stops them in
 * reverse. When one fails to start, those already started are stopped again before the error
 * is thrown, so nothing (a cron job, a socket, a lamp) keeps a half-started device alive.
 */
export class Lifecycle {
  private readonly started: Capability[] = [];
  private stopRequested = false;

  constructor(
    private readonly capabilities: readonly Capability[],
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.stopRequested = false;
    for (const capability of this.capabilities) {
      const began = Date.now();
      try {
        await capability.start();
      } catch (error) {
        const problem = toCspineError(error);
        this.logger.error({ capability: capability.name, code: problem.code }, `cannot start ${capability.name}: ${problem.message}; stopping what had started`);
        await this.stopStarted();
        throw new StartupError(capability.name, problem);
      }
      this.started.push(capability);
      this.logger.debug({ capability: capability.name, ms: Date.now() - began }, 'capability started');
      // Stopped while this one was starting: it is stopped too, with the others.
      if (this.stopRequested) return this.stopStarted();
    }
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
    await this.stopStarted();
  }

  /** Each capability's health; those not running say so. */
  health(): Array<{ name: string } & CapabilityHealth> {
    return this.capabilities.map((capability) => ({
      name: capability.name,
      ...(this.started.includes(capability) ? capability.health() : { status: 'off' as const, detail: 'not running' }),
    }));
  }

  private async stopStarted(): Promise<void> {
    for (let capability = this.started.pop(); capability !== undefined; capability = this.started.pop()) {
      try {
        await capability.stop();
      } catch (error) {
        // stop() should not throw; when one does, the others must still stop.
        this.logger.error({ capability: capability.name, err: (error as Error).message }, 'capability failed to stop cleanly');
      }
    }
  }
}
