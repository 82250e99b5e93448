import type { ResolvedLine } from './pins.js';

/** The fix for a pin the service user may not touch, said where the failure is reported. */
export function accessHint(role: string, line: ResolvedLine, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  const where = line.sysfs !== undefined ? `GPIO ${line.sysfs} (${line.describe}, ${line.chip} line ${line.offset})` : `${line.describe} (${line.chip} line ${line.offset})`;
  return new Error(
    `${where} for the ${role} is not accessible (${code}). Add the service user to the gpio group ` +
      '(sudo usermod -aG gpio cspine) and install deploy/99-cspine-gpio.rules (sudo cp deploy/99-cspine-gpio.rules /etc/udev/rules.d/ && sudo udevadm trigger), ' +
      'then restart; or check that no other program holds the line.',
    { cause: error },
  );
}

export interface ButtonInput {
  /** Calls back with the logical level (pressed = true, after active-low inversion). */
  watch(onChange: (pressed: boolean) => void): void;
  close(): void;
}
