/**
 * Choosing a rollout's devices and canaries, and the Range header of the download route:
 * pure functions, checked without a database.
 */
import test from 'ava';
import { CspineError, ErrorCode } from '../../src/errors.js';
import { planRollout, rolloutTarget } from '../../src/dashboard/updates/rollout-plan.js';
import { byteRange } from '../../src/dashboard/web/byte-range.js';

const KNOWN = new Set(['a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6', 'a-7', 'a-8', 'a-9', 'a-10', 'a-11']);
const GROUPS = { north: ['a-3', 'a-1', 'a-3'], ghosts: ['a-1', 'zz-9'] };

function refused(t: import('ava').ExecutionContext, work: () => unknown, message: RegExp): void {
  const error = t.throws(work);
  t.true(error instanceof CspineError);
  t.is((error as CspineError).code, ErrorCode.DASHBOARD_ROLLOUT_INVALID);
  t.regex(error!.message, message);
}

test('targets: listed devices, a group (each device once) or all; described for people', (t) => {
  t.like(planRollout({ target: { devices: ['a-2', 'a-1'] }, canary: [] }, KNOWN, GROUPS, 10), { devices: ['a-1', 'a-2'], description: 'devices a-1, a-2' });
  t.like(planRollout({ target: { group: 'north' }, canary: [] }, KNOWN, GROUPS, 10), { devices: ['a-1', 'a-3'], description: 'group north (2 devices)' });
  const all = planRollout({ target: { all: true }, canary: [] }, KNOWN, GROUPS, 10);
  t.is(all.devices.length, 11);
  t.is(all.description, 'all 11 devices');
});

test('canaries: named ones, or the percentage rounded up and chosen at random; 0 % means none', (t) => {
  t.deepEqual([...planRollout({ target: { all: true }, canary: ['a-4'] }, KNOWN, GROUPS, 10).canaries], ['a-4']);
  const tenth = planRollout({ target: { all: true } }, KNOWN, GROUPS, 10).canaries;
  t.is(tenth.size, 2, '10 % of 11, rounded up');
  for (const device of tenth) t.true(KNOWN.has(device));
  t.is(planRollout({ target: { all: true }, canaryPercent: 50 }, KNOWN, GROUPS, 10).canaries.size, 6);
  t.is(planRollout({ target: { all: true }, canaryPercent: 0 }, KNOWN, GROUPS, 10).canaries.size, 0);
  t.is(planRollout({ target: { devices: ['a-1'] } }, KNOWN, GROUPS, 10).canaries.size, 1, 'one device is its own canary');
});

test('refusals: an unknown device or group, canaries outside the target, both ways of choosing canaries, no target or two', (t) => {
  refused(t, () => planRollout({ target: { devices: ['a-1', 'zz-9'] } }, KNOWN, GROUPS, 10), /unknown device zz-9: the dashboard has had no message from it/);
  refused(t, () => planRollout({ target: { group: 'ghosts' } }, KNOWN, GROUPS, 10), /unknown device zz-9/);
  refused(t, () => planRollout({ target: { group: 'south' } }, KNOWN, GROUPS, 10), /no device group "south" in dashboard\.updates\.groups \(known: north, ghosts\)/);
  refused(t, () => planRollout({ target: { devices: ['a-1'] }, canary: ['a-2'] }, KNOWN, GROUPS, 10), /canary a-2 is not among the rollout's devices/);
  refused(t, () => planRollout({ target: { devices: ['a-1'] }, canary: ['a-1'], canaryPercent: 5 }, KNOWN, GROUPS, 10), /not both/);
  refused(t, () => planRollout({ target: { devices: [] } }, KNOWN, GROUPS, 10), /no device/);
  refused(t, () => rolloutTarget({}), /exactly one target/);
  refused(t, () => rolloutTarget({ devices: ['a-1'], all: true }), /exactly one target/);
  t.deepEqual(rolloutTarget({ group: 'north', all: false }), { group: 'north' });
});

test('Range: N-, N-M, the last N, past the end, and what is answered with the whole file', (t) => {
  t.deepEqual(byteRange('bytes=100-', 1000), { kind: 'partial', start: 100, end: 999 });
  t.deepEqual(byteRange('bytes=0-99', 1000), { kind: 'partial', start: 0, end: 99 });
  t.deepEqual(byteRange('bytes=990-5000', 1000), { kind: 'partial', start: 990, end: 999 });
  t.deepEqual(byteRange('bytes=-10', 1000), { kind: 'partial', start: 990, end: 999 });
  t.deepEqual(byteRange('bytes=-5000', 1000), { kind: 'partial', start: 0, end: 999 });
  t.deepEqual(byteRange('bytes=1000-', 1000), { kind: 'unsatisfiable' });
  t.deepEqual(byteRange('bytes=-0', 1000), { kind: 'unsatisfiable' });
  for (const whole of [undefined, 'bytes=5-1', 'bytes=0-1,5-9', 'items=0-1', 'bytes=-', 'bytes=a-b']) t.deepEqual(byteRange(whole, 1000), { kind: 'whole' }, String(whole));
});
