import crypto from 'node:crypto';
import { CspineError, ErrorCode } from '../../errors.js';

/** Which devices a rollout is for: listed, a configured group, or every device the dashboard knows. */
export type RolloutTarget = { devices: string[] } | { group: string } | { all: true };

export interface TargetRequest {
  target: RolloutTarget;
  /** Named canaries (a subset of the target); else `canaryPercent` of them, chosen at random. */
  canary?: string[];
  canaryPercent?: number;
}

export interface RolloutPlan {
  /** Sorted. */
  devices: string[];
  canaries: Set<string>;
  /** For people: "group north (5 devices)". */
  description: string;
}

function invalid(message: string): CspineError {
  return new CspineError(ErrorCode.DASHBOARD_ROLLOUT_INVALID, message);
}

/** The target from the command line's or the API's three ways to give one: exactly one of them. */
export function rolloutTarget(given: { devices?: string[] | undefined; group?: string | undefined; all?: boolean | undefined }): RolloutTarget {
  const ways = [given.devices !== undefined, given.group !== undefined, given.all === true].filter(Boolean).length;
  if (ways !== 1) throw invalid('a rollout needs exactly one target: devices, a group or all devices');
  if (given.devices !== undefined) return { devices: given.devices };
  if (given.group !== undefined) return { group: given.group };
  return { all: true };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/**
 * Resolves a rollout's target against the devices the dashboard has heard from and the
 * configured groups, and picks its canaries. A device that never reported cannot be a target:
 * a misspelt id would otherwise wait forever for a device that does not exist.
 */
export function planRollout(request: TargetRequest, known: ReadonlySet<string>, groups: Readonly<Record<string, readonly string[]>>, defaultCanaryPercent: number): RolloutPlan {
  const { target } = request;
  let listed: readonly string[];
  let description: string;
  if ('all' in target) {
    listed = [...known];
    description = `all ${plural(listed.length, 'device')}`;
  } else if ('group' in target) {
    const members = groups[target.group];
    if (!members) throw invalid(`no device group "${target.group}" in dashboard.updates.groups (known: ${Object.keys(groups).join(', ') || 'none'})`);
    listed = members;
    description = `group ${target.group} (${plural(new Set(members).size, 'device')})`;
  } else {
    listed = target.devices;
    description = `devices ${[...new Set(target.devices)].sort().join(', ')}`;
  }
  const devices = [...new Set(listed)].sort();
  if (devices.length === 0) throw invalid('the rollout has no device');
  const unknown = devices.filter((device) => !known.has(device));
  if (unknown.length > 0) throw invalid(`unknown device${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}: the dashboard has had no message from ${unknown.length === 1 ? 'it' : 'them'}`);
  return { devices, canaries: pickCanaries(request, devices, defaultCanaryPercent), description };
}

function pickCanaries(request: TargetRequest, devices: readonly string[], defaultCanaryPercent: number): Set<string> {
  if (request.canary !== undefined && request.canaryPercent !== undefined) throw invalid('name the canaries or give a canary percentage, not both');
  if (request.canary !== undefined) {
    const outside = request.canary.filter((device) => !devices.includes(device));
    if (outside.length > 0) throw invalid(`canary ${outside.join(', ')} ${outside.length === 1 ? 'is' : 'are'} not among the rollout's devices`);
    return new Set(request.canary);
  }
  const percent = request.canaryPercent ?? defaultCanaryPercent;
  if (!(percent >= 0 && percent <= 100)) throw invalid(`the canary percentage must be from 0 to 100, not ${percent}`);
  const count = Math.ceil((devices.length * percent) / 100);
  // At random: the same first devices (by name) should not carry every new model's risk.
  const shuffled = [...devices];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = crypto.randomInt(i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  return new Set(shuffled.slice(0, count));
}
