import fs from 'node:fs';
import path from 'node:path';

/** Free bytes for an unprivileged writer on the filesystem holding `dir`; null if unknown. */
export function diskFreeBytes(dir: string): number | null {
  try {
    const stats = fs.statfsSync(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return null;
  }
}

/** Share (0..1) of the filesystem holding `dir` that is in use; null if unknown. */
export function diskUsedShare(dir: string): number | null {
  try {
    const stats = fs.statfsSync(dir);
    return stats.blocks === 0 ? null : 1 - stats.bavail / stats.blocks;
  } catch {
    return null;
  }
}

/** The SoC temperature from the first readable thermal zone (Pi, Jetson); null elsewhere. */
export function cpuTemperatureC(thermalRoot = '/sys/class/thermal'): number | null {
  let zones: string[];
  try {
    zones = fs.readdirSync(thermalRoot).filter((name) => name.startsWith('thermal_zone')).sort();
  } catch {
    return null;
  }
  for (const zone of zones) {
    try {
      const milli = Number(fs.readFileSync(path.join(thermalRoot, zone, 'temp'), 'utf8').trim());
      if (Number.isFinite(milli)) return Math.round(milli / 100) / 10;
    } catch {
      // unreadable zone: try the next
    }
  }
  return null;
}
