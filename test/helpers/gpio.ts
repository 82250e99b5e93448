import fs from 'node:fs';
import path from 'node:path';
import type { LampOutputs } from '../../src/indicators/lamp-driver.js';
import { LAMPS, type Lamp } from '../../src/indicators/patterns.js';

export interface Write {
  at: number;
  lamp: Lamp;
  on: boolean;
}

/**
 * Simulated GPIO hardware: records every write with the time it happened, and optionally
 * mirrors the lamp levels into a JSON file on each write (so a test can read them after the
 * process that drove them has died).
 */
export class RecordingOutputs implements LampOutputs {
  readonly backend = 'recording';
  readonly has: ReadonlySet<Lamp>;
  readonly writes: Write[] = [];
  readonly levels: Record<Lamp, boolean> = { green: false, amber: false, red: false, buzzer: false };

  constructor(
    private readonly now: () => number,
    lamps: readonly Lamp[] = LAMPS,
    private readonly stateFile?: string,
  ) {
    this.has = new Set(lamps);
  }

  set(lamp: Lamp, on: boolean): void {
    this.writes.push({ at: this.now(), lamp, on });
    this.levels[lamp] = on;
    if (this.stateFile) fs.writeFileSync(this.stateFile, JSON.stringify(this.levels));
  }

  async release(): Promise<void> {}

  lit(): Lamp[] {
    return LAMPS.filter((lamp) => this.levels[lamp]);
  }
}

/** A fake /sys/class/gpio tree (and device-tree model file) in `root`. */
export function fakeSysfs(root: string, model: string, chips: Array<{ base: number; label: string; ngpio: number }>) {
  const sysfsRoot = path.join(root, 'sys/class/gpio');
  fs.mkdirSync(sysfsRoot, { recursive: true });
  fs.writeFileSync(path.join(sysfsRoot, 'export'), '');
  for (const chip of chips) {
    const dir = path.join(sysfsRoot, `gpiochip${chip.base}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'base'), `${chip.base}\n`);
    fs.writeFileSync(path.join(dir, 'label'), `${chip.label}\n`);
    fs.writeFileSync(path.join(dir, 'ngpio'), `${chip.ngpio}\n`);
  }
  const modelFile = path.join(root, 'model');
  fs.writeFileSync(modelFile, `${model}\0`);
  const devDir = path.join(root, 'dev');
  fs.mkdirSync(devDir);
  return { sysfsRoot, modelFile, devDir };
}
