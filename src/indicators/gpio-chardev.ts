import { createRequire } from 'node:module';
import type { LampOutputs } from './lamp-driver.js';
import type { Lamp } from './patterns.js';
import type { GpioChip, ResolvedLine } from './pins.js';
import { accessHint, type ButtonInput } from './gpio-access.js';

interface GpiodChip {
  readonly name: string;
  readonly label: string;
  readonly numberOfLines: number;
}
interface GpiodLine {
  requestOutputMode(consumer?: string, defaultValue?: 0 | 1): unknown;
  requestInputMode(consumer?: string): unknown;
  setValue(value: 0 | 1): unknown;
  getValue(): 0 | 1;
  release(): unknown;
}
interface Libgpiod {
  version: string;
  getChipNames(): string[];
  Chip: new (identifier: string) => GpiodChip;
  Line: new (chip: GpiodChip, offset: number) => GpiodLine;
}

const CONSUMER = 'cspine-edge';
const BUTTON_POLL_MS = 10;

/**
 * node-libgpiod, an optional dependency that compiles against libgpiod 1.x (Debian's
 * libgpiod-dev). Undefined when it is not installed or did not build.
 */
export function loadLibgpiod(): Libgpiod | undefined {
  try {
    return createRequire(import.meta.url)('node-libgpiod') as Libgpiod;
  } catch {
    return undefined;
  }
}

/** The GPIO character devices' chips by label, as the kernel lists them. */
export function chardevChips(gpiod: Libgpiod): Array<GpioChip & { name: string }> {
  return gpiod.getChipNames().map((name) => {
    const chip = new gpiod.Chip(name);
    return { name, label: chip.label, ngpio: chip.numberOfLines };
  });
}

function openLine(gpiod: Libgpiod, line: ResolvedLine, chips: ReturnType<typeof chardevChips>): GpiodLine {
  const entry = chips.find((chip) => chip.label === line.chip)!;
  return new gpiod.Line(new gpiod.Chip(entry.name), line.offset);
}

/**
 * Lamps on the GPIO character device (/dev/gpiochipN). When the process ends, for any reason,
 * the kernel releases the lines and they fall back to their default: a dead service leaves no
 * lamp lit.
 */
export class ChardevOutputs implements LampOutputs {
  readonly backend: string;
  readonly has: ReadonlySet<Lamp>;
  private readonly lines = new Map<Lamp, { line: GpiodLine; activeLow: boolean }>();

  constructor(gpiod: Libgpiod, resolved: ReadonlyMap<Lamp, ResolvedLine>) {
    this.backend = `gpiod (libgpiod ${gpiod.version})`;
    const chips = chardevChips(gpiod);
    for (const [lamp, spec] of resolved) {
      try {
        const line = openLine(gpiod, spec, chips);
        line.requestOutputMode(CONSUMER, spec.activeLow ? 1 : 0);
        this.lines.set(lamp, { line, activeLow: spec.activeLow });
      } catch (error) {
        void this.release();
        throw accessHint(`${lamp} output`, spec, error);
      }
    }
    this.has = new Set(this.lines.keys());
  }

  set(lamp: Lamp, on: boolean): void {
    const entry = this.lines.get(lamp);
    entry?.line.setValue(on !== entry.activeLow ? 1 : 0);
  }

  async release(): Promise<void> {
    for (const [lamp, { line }] of this.lines) {
      this.set(lamp, false);
      line.release();
    }
    this.lines.clear();
  }
}

/** The acknowledge button on the character device, sampled every 10 ms (debounced above). */
export class ChardevButton implements ButtonInput {
  private readonly line: GpiodLine;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    gpiod: Libgpiod,
    private readonly spec: ResolvedLine,
  ) {
    try {
      this.line = openLine(gpiod, spec, chardevChips(gpiod));
      this.line.requestInputMode(CONSUMER);
    } catch (error) {
      throw accessHint('acknowledge button', spec, error);
    }
  }

  watch(onChange: (pressed: boolean) => void): void {
    let last = this.pressed();
    this.timer = setInterval(() => {
      const now = this.pressed();
      if (now !== last) onChange((last = now));
    }, BUTTON_POLL_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.line.release();
  }

  private pressed(): boolean {
    return (this.line.getValue() === 1) !== this.spec.activeLow;
  }
}
