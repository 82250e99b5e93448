import { CspineError, ErrorCode } from '../errors.js';
import type { ResolvedLine } from './pins.js';

/** The fix for a pin the service user may not touch, said where the failure is reported. */
export function accessHint(role: string, line: ResolvedLine, error: unknown): CspineError {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  const kernelName = `${line.chip} line ${line.offset}`;
  const names = line.describe === kernelName ? kernelName : `${line.describe}, ${kernelName}`;
  const where = line.sysfs !== undefined ? `GPIO ${line.sysfs} (${names})` : `${line.describe} (${kernelName})`;
  return new CspineError(
    ErrorCode.GPIO_ACCESS_DENIED,
    `${where} for the ${role} is not accessible (${code}). Add the service user to the gpio group ` +
      '(sudo usermod -aG gpio cspine) and install deploy/99-cspine-gpio.rules (sudo cp deploy/99-cspine-gpio.rules /etc/udev/rules.d/ && sudo udevadm trigger --action=add --subsystem-match=gpio), ' +
      'then restart; or check that no other program holds the line. deploy/install.sh does both.',
    { cause: error },
  );
}

export interface ButtonInput {
  /** Calls back with the logical level (pressed = true, after active-low inversion). */
  watch(onChange: (pressed: boolean) => void): void;
  close(): void;
}
