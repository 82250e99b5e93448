import onoff from 'onoff';
import type { LampOutputs } from './lamp-driver.js';
import type { Lamp } from './patterns.js';
import type { ResolvedLine } from './pins.js';
import { accessHint, type ButtonInput } from './gpio-access.js';

const { Gpio } = onoff;
type OnoffGpio = InstanceType<typeof Gpio>;

/** Lamps on the legacy sysfs interface (/sys/class/gpio) through onoff. */
export class SysfsOutputs implements LampOutputs {
  readonly backend = 'sysfs (onoff)';
  readonly has: ReadonlySet<Lamp>;
  private readonly gpios = new Map<Lamp, OnoffGpio>();

  constructor(lines: ReadonlyMap<Lamp, ResolvedLine>) {
    for (const [lamp, line] of lines) {
      try {
        // 'low' sets the direction and drives the line off in one step: nothing flashes at start.
        this.gpios.set(lamp, new Gpio(line.sysfs!, 'low', 'none', { activeLow: line.activeLow }));
      } catch (error) {
        this.unexportAll();
        throw accessHint(`${lamp} output`, line, error);
      }
    }
    this.has = new Set(this.gpios.keys());
  }

  set(lamp: Lamp, on: boolean): void {
    this.gpios.get(lamp)?.writeSync(on ? 1 : 0);
  }

  async release(): Promise<void> {
    this.unexportAll();
  }

  private unexportAll(): void {
    for (const gpio of this.gpios.values()) {
      gpio.writeSync(0);
      gpio.unexport();
    }
    this.gpios.clear();
  }
}

/** The acknowledge button on sysfs, debounced by onoff's `debounceTimeout`. */
export class SysfsButton implements ButtonInput {
  private readonly gpio: OnoffGpio;

  constructor(line: ResolvedLine, debounceMs: number) {
    try {
      this.gpio = new Gpio(line.sysfs!, 'in', 'both', { debounceTimeout: debounceMs, activeLow: line.activeLow });
    } catch (error) {
      throw accessHint('acknowledge button', line, error);
    }
  }

  watch(onChange: (pressed: boolean) => void): void {
    this.gpio.watch((error, value) => {
      if (!error) onChange(value === 1);
    });
  }

  close(): void {
    this.gpio.unwatchAll();
    this.gpio.unexport();
  }
}
