import fs from 'node:fs';
import type { Config } from '../config/schema.js';
import type { ButtonInput } from './gpio-access.js';
import { ChardevButton, ChardevOutputs, chardevChips, loadLibgpiod } from './gpio-chardev.js';
import { SysfsButton, SysfsOutputs } from './gpio-sysfs.js';
import type { Indicators } from './indicators.js';
import { LampDriver } from './lamp-driver.js';
import type { Lamp } from './patterns.js';
import { boardModel, resolvePin, sysfsChips, type GpioChip, type ResolvedLine } from './pins.js';
import { SimulatedIndicators } from './simulated.js';

export interface SelectedIndicators {
  indicators: Indicators;
  button?: ButtonInput;
  /** Why this backend: shown by `doctor` and logged at start. */
  reason: string;
}

export interface HardwarePaths {
  sysfsRoot: string;
  devDir: string;
  modelFile: string;
}

const SYSTEM: HardwarePaths = { sysfsRoot: '/sys/class/gpio', devDir: '/dev', modelFile: '/proc/device-tree/model' };

type IndicatorSettings = Config['indicators'];

export interface IndicatorPlan {
  backend: 'simulated' | 'sysfs' | 'gpiod';
  reason: string;
  lamps: Map<Lamp, ResolvedLine>;
  button?: ResolvedLine;
}

/**
 * Which backend the config leads to, and the pins resolved, without touching a line (so
 * `doctor` can ask while the service runs). `auto` takes sysfs GPIO where /sys/class/gpio
 * exists, else the character device where /dev/gpiochip* exists, else the simulated lamps.
 */
export function planIndicators(settings: IndicatorSettings, paths: HardwarePaths = SYSTEM): IndicatorPlan {
  if (settings.backend === 'simulated') return { backend: 'simulated', reason: 'simulated: chosen by indicators.backend', lamps: new Map() };
  const model = boardModel(paths.modelFile);
  const hasSysfs = fs.existsSync(paths.sysfsRoot);
  const hasChardev = listChardevs(paths.devDir).length > 0;
  const backend = settings.backend === 'auto' ? (hasSysfs ? 'sysfs' : hasChardev ? 'gpiod' : undefined) : settings.backend;
  const board = `board: ${model ?? 'unknown'}`;
  if (backend === undefined) {
    return { backend: 'simulated', reason: `simulated: no ${paths.sysfsRoot} and no ${paths.devDir}/gpiochip* here (${board})`, lamps: new Map() };
  }
  if (backend === 'sysfs') {
    return { backend, reason: `sysfs GPIO via onoff (${paths.sysfsRoot} present; ${board})`, ...resolveAll(settings, sysfsChips(paths.sysfsRoot), model) };
  }
  const gpiod = loadLibgpiod();
  if (!gpiod) {
    throw new Error('the lamps need the GPIO character device, but node-libgpiod is not installed: apt-get install libgpiod-dev, then npm ci (it is an optional dependency)');
  }
  const why = hasSysfs ? 'chosen by indicators.backend' : `no ${paths.sysfsRoot}`;
  return { backend, reason: `GPIO character device via libgpiod ${gpiod.version} (${why}; ${board})`, ...resolveAll(settings, chardevChips(gpiod), model) };
}

/** Opens the planned backend. An explicitly chosen backend that cannot start is an error, not a fallback. */
export function selectIndicators(settings: IndicatorSettings, paths: HardwarePaths = SYSTEM): SelectedIndicators {
  const plan = planIndicators(settings, paths);
  if (plan.backend === 'simulated') {
    return { indicators: new SimulatedIndicators(settings.render ? process.stderr : undefined), reason: plan.reason };
  }
  if (plan.backend === 'sysfs') {
    return {
      indicators: new LampDriver(new SysfsOutputs(plan.lamps), settings.idle),
      ...(plan.button ? { button: new SysfsButton(plan.button, settings.debounceMs) } : {}),
      reason: plan.reason,
    };
  }
  const gpiod = loadLibgpiod()!;
  return {
    indicators: new LampDriver(new ChardevOutputs(gpiod, plan.lamps), settings.idle),
    ...(plan.button ? { button: new ChardevButton(gpiod, plan.button) } : {}),
    reason: plan.reason,
  };
}

function resolveAll(settings: IndicatorSettings, chips: readonly GpioChip[], model: string | undefined): { lamps: Map<Lamp, ResolvedLine>; button?: ResolvedLine } {
  const lamps = new Map<Lamp, ResolvedLine>();
  for (const lamp of ['green', 'amber', 'red', 'buzzer'] as const) {
    const spec = settings.pins[lamp];
    if (spec) lamps.set(lamp, resolvePin(`${lamp} lamp`, spec, chips, model));
  }
  const button = settings.pins.button ? resolvePin('acknowledge button', settings.pins.button, chips, model) : undefined;
  return button ? { lamps, button } : { lamps };
}

function listChardevs(devDir: string): string[] {
  try {
    return fs.readdirSync(devDir).filter((name) => /^gpiochip\d+$/.test(name));
  } catch {
    return [];
  }
}
