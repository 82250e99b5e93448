import fs from 'node:fs';
import path from 'node:path';

/** How an operator names a pin: BCM number (Raspberry Pi), chip label + line, or header pin (Jetson). */
export type PinSpec = ({ bcm: number } | { chip: string; line: number } | { header: number }) & { activeLow?: boolean };

export interface GpioChip {
  label: string;
  /** First global GPIO number (sysfs); absent for character-device-only listings. */
  base?: number;
  ngpio: number;
}

/** A pin as the kernel knows it: line `offset` of the chip labelled `chip`. */
export interface ResolvedLine {
  chip: string;
  offset: number;
  activeLow: boolean;
  /** The global sysfs number (chip base + offset), when the sysfs interface exists. */
  sysfs?: number;
  /** How the operator wrote it, for error messages. */
  describe: string;
}

/**
 * Raspberry Pi GPIO controllers, newest first. Their sysfs base is 0 on kernels before 6.6 and
 * 512 (Pi 4) or 571 (Pi 5, RP1) after, so BCM numbers must be resolved, never used raw.
 */
export const RASPBERRY_PI_CHIPS = ['pinctrl-rp1', 'pinctrl-bcm2712', 'pinctrl-bcm2711', 'pinctrl-bcm2835'];

/**
 * Jetson AGX Orin 40-pin header → (chip label, line offset), from NVIDIA's Jetson.GPIO pin data.
 * Other Jetson modules: configure `{ chip, line }`.
 */
export const JETSON_AGX_ORIN_HEADER: Readonly<Record<number, readonly [string, number]>> = {
  7: ['tegra234-gpio', 106],
  11: ['tegra234-gpio', 112],
  12: ['tegra234-gpio', 50],
  13: ['tegra234-gpio', 108],
  15: ['tegra234-gpio', 85],
  16: ['tegra234-gpio-aon', 9],
  18: ['tegra234-gpio', 43],
  19: ['tegra234-gpio', 135],
  21: ['tegra234-gpio', 134],
  22: ['tegra234-gpio', 96],
  23: ['tegra234-gpio', 133],
  24: ['tegra234-gpio', 136],
  26: ['tegra234-gpio', 137],
  29: ['tegra234-gpio-aon', 1],
  31: ['tegra234-gpio-aon', 0],
  32: ['tegra234-gpio-aon', 8],
  33: ['tegra234-gpio-aon', 2],
  35: ['tegra234-gpio', 53],
  36: ['tegra234-gpio', 113],
  37: ['tegra234-gpio-aon', 3],
  38: ['tegra234-gpio', 52],
  40: ['tegra234-gpio', 51],
};

/** The chips under /sys/class/gpio (gpiochipN/{base,label,ngpio}); [] where sysfs GPIO is gone. */
export function sysfsChips(sysfsRoot = '/sys/class/gpio'): GpioChip[] {
  let names: string[];
  try {
    names = fs.readdirSync(sysfsRoot).filter((name) => /^gpiochip\d+$/.test(name));
  } catch {
    return [];
  }
  return names.map((name) => {
    const read = (file: string) => fs.readFileSync(path.join(sysfsRoot, name, file), 'utf8').trim();
    return { label: read('label'), base: Number(read('base')), ngpio: Number(read('ngpio')) };
  });
}

/** The board's device-tree model, e.g. "Raspberry Pi 5 Model B Rev 1.0"; undefined elsewhere. */
export function boardModel(modelFile = '/proc/device-tree/model'): string | undefined {
  try {
    return fs.readFileSync(modelFile, 'utf8').replace(/\0/g, '').trim() || undefined;
  } catch {
    return undefined;
  }
}

export class PinError extends Error {}

/** Resolves `spec` (for the lamp or button `role`) against the chips the kernel offers. */
export function resolvePin(role: string, spec: PinSpec, chips: readonly GpioChip[], model: string | undefined): ResolvedLine {
  const activeLow = spec.activeLow ?? false;
  let chipLabel: string;
  let offset: number;
  let describe: string;
  if ('bcm' in spec) {
    describe = `BCM ${spec.bcm}`;
    const chip = RASPBERRY_PI_CHIPS.map((label) => chips.find((c) => c.label === label)).find((c) => c !== undefined);
    if (!chip) {
      throw new PinError(
        `${role} is configured as ${describe}, but no Raspberry Pi GPIO controller (${RASPBERRY_PI_CHIPS.join(', ')}) is present` +
          ` (chips: ${chips.map((c) => c.label).join(', ') || 'none'}; board: ${model ?? 'unknown'}). On other boards configure { chip, line } or { header }.`,
      );
    }
    chipLabel = chip.label;
    offset = spec.bcm;
  } else if ('header' in spec) {
    describe = `header pin ${spec.header}`;
    if (!model?.includes('Orin') || !model.includes('AGX')) {
      throw new PinError(`${role}: header pin numbers are known for the Jetson AGX Orin only (board: ${model ?? 'unknown'}); configure { chip, line } instead`);
    }
    const entry = JETSON_AGX_ORIN_HEADER[spec.header];
    if (!entry) throw new PinError(`${role}: header pin ${spec.header} of the Jetson AGX Orin is not a GPIO (GPIO pins: ${Object.keys(JETSON_AGX_ORIN_HEADER).join(', ')})`);
    [chipLabel, offset] = entry;
  } else {
    describe = `${spec.chip} line ${spec.line}`;
    chipLabel = spec.chip;
    offset = spec.line;
  }
  const chip = chips.find((c) => c.label === chipLabel);
  if (!chip) throw new PinError(`${role} (${describe}): no GPIO chip labelled ${chipLabel} (chips: ${chips.map((c) => c.label).join(', ') || 'none'})`);
  if (offset < 0 || offset >= chip.ngpio) throw new PinError(`${role} (${describe}): line ${offset} is outside ${chipLabel}, which has ${chip.ngpio} lines`);
  return { chip: chipLabel, offset, activeLow, describe, ...(chip.base !== undefined ? { sysfs: chip.base + offset } : {}) };
}
