import type { Indicators, LampLevel, LampState } from './indicators.js';

export interface LampTransition extends LampState {
  at: Date;
}

/** Enough for tests and `doctor`; the service runs for months, so older entries are dropped. */
const KEPT_TRANSITIONS = 200;

const LAMPS = [
  { name: 'GREEN', colour: '\x1b[42;30m', lit: (level: LampLevel) => level === 'GREEN' },
  { name: 'AMBER', colour: '\x1b[43;30m', lit: (level: LampLevel) => level === 'AMBER' || level === 'PROCESSING' || level === 'FAULT' },
  { name: 'RED', colour: '\x1b[41;37m', lit: (level: LampLevel) => level === 'RED' || level === 'FAULT' },
] as const;

/**
 * Lamps drawn on a terminal, and every transition recorded for tests. Same interface as
 * the GPIO backend, so the service cannot tell them apart.
 */
export class SimulatedIndicators implements Indicators {
  readonly backend = 'simulated';
  readonly transitions: LampTransition[] = [];

  constructor(private readonly out?: NodeJS.WritableStream & { isTTY?: boolean }) {}

  get current(): LampState | undefined {
    return this.transitions.at(-1);
  }

  show(state: LampState): void {
    this.transitions.push({ ...state, at: new Date() });
    if (this.transitions.length > KEPT_TRANSITIONS) this.transitions.splice(0, this.transitions.length - KEPT_TRANSITIONS);
    this.out?.write(this.render(state));
  }

  /** Each lamp in turn on the terminal, as the GPIO lamps do it. */
  async lampTest(): Promise<void> {
    const before = this.current;
    for (const lamp of ['GREEN', 'AMBER', 'RED'] as const) {
      this.out?.write(`lamp test: ${this.render({ level: lamp, reason: lamp.toLowerCase() })}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (before) this.out?.write(this.render(before));
  }

  failSafe(): void {
    if (this.current?.level !== 'IDLE') this.show({ level: 'IDLE', reason: 'fail-safe — lamps off' });
  }

  async close(): Promise<void> {
    this.show({ level: 'IDLE', reason: 'service stopped — lamps off' });
  }

  private render({ level, reason }: LampState): string {
    const colour = this.out?.isTTY === true;
    const lamps = LAMPS.map(({ name, colour: on, lit }) => {
      if (!lit(level)) return colour ? `\x1b[2m ${name} \x1b[0m` : ` ${name.toLowerCase()} `;
      return colour ? `${on} ${name} \x1b[0m` : `[${name}]`;
    }).join(' ');
    return `lamps ${lamps}  ${level}: ${reason}\n`;
  }
}
