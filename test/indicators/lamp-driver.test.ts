import FakeTimers from '@sinonjs/fake-timers';
import test from 'ava';
import { LampDriver, type Clock } from '../../src/indicators/lamp-driver.js';
import { RecordingOutputs } from '../helpers/gpio.js';

function rig(lamps?: ConstructorParameters<typeof RecordingOutputs>[1], idle: 'off' | 'heartbeat' = 'off') {
  const timers = FakeTimers.createClock(0);
  const clock: Clock = { now: () => timers.now, setTimeout: (cb, ms) => timers.setTimeout(cb, ms), clearTimeout: (h) => timers.clearTimeout(h as never) };
  const outputs = new RecordingOutputs(() => timers.now, lamps);
  const driver = new LampDriver(outputs, idle, clock);
  return { timers, outputs, driver };
}

/** Times at which `lamp` was switched on. */
const onsets = (outputs: RecordingOutputs, lamp: string) => outputs.writes.filter((w) => w.lamp === lamp && w.on).map((w) => w.at);

test('FAULT alternates red and amber every 500 ms without drift', (t) => {
  const { timers, outputs, driver } = rig();
  driver.show({ level: 'FAULT', reason: 'model missing' });
  timers.tick(99_999);
  const red = onsets(outputs, 'red');
  const amber = onsets(outputs, 'amber');
  t.is(red.length, 100);
  t.deepEqual(red, Array.from({ length: 100 }, (_, i) => i * 1000), 'exactly on the 1 s grid after 100 cycles');
  t.deepEqual(amber.slice(0, 3), [500, 1500, 2500]);
  t.true(outputs.writes.every((w) => !(w.lamp === 'green' && w.on)), 'FAULT never lights green');
});

test('RED fracture beeps three times then stays lit; RED dislocation beeps then blinks fast', (t) => {
  const fracture = rig();
  fracture.driver.show({ level: 'RED', reason: 'fracture', label: 'fracture' });
  fracture.timers.tick(5000);
  t.deepEqual(onsets(fracture.outputs, 'buzzer'), [0, 300, 600], 'a short alert, not a siren');
  t.deepEqual(fracture.outputs.lit(), ['red']);
  t.is(onsets(fracture.outputs, 'red').length, 1, 'steady');

  const dislocation = rig();
  dislocation.driver.show({ level: 'RED', reason: 'dislocation', label: 'dislocation' });
  dislocation.timers.tick(750 + 1000);
  t.deepEqual(onsets(dislocation.outputs, 'buzzer'), [0, 300, 600]);
  t.deepEqual(onsets(dislocation.outputs, 'red').slice(-4), [1000, 1250, 1500, 1750], '125 ms on / 125 ms off after the alert');
});

test('a new state replaces the old pattern at once: no overlapping timers', (t) => {
  const { timers, outputs, driver } = rig();
  driver.show({ level: 'PROCESSING', reason: 'a.png' });
  timers.tick(1200);
  driver.show({ level: 'GREEN', reason: 'normal' });
  const after = outputs.writes.length;
  timers.tick(60_000);
  t.is(outputs.writes.length, after, 'nothing blinks after a steady state');
  t.deepEqual(outputs.lit(), ['green']);
  t.is(timers.countTimers(), 0);
});

test('idle is dark by default, or a short green heartbeat', (t) => {
  const dark = rig();
  dark.driver.show({ level: 'IDLE', reason: 'ready' });
  dark.timers.tick(10_000);
  t.deepEqual(dark.outputs.lit(), []);
  const beat = rig(undefined, 'heartbeat');
  beat.driver.show({ level: 'IDLE', reason: 'ready' });
  beat.timers.tick(9000);
  t.deepEqual(onsets(beat.outputs, 'green'), [0, 3000, 6000, 9000]);
});

test('the lamp test lights each lamp in turn, then restores the state', async (t) => {
  const { timers, outputs, driver } = rig();
  driver.show({ level: 'AMBER', reason: 'review' });
  const done = driver.lampTest();
  await timers.tickAsync(2000);
  await done;
  const sequence = outputs.writes.filter((w) => w.on).map((w) => `${w.at}:${w.lamp}`);
  t.deepEqual(sequence, ['0:amber', '0:green', '500:amber', '1000:red', '1500:buzzer', '1600:amber']);
  t.deepEqual(outputs.lit(), ['amber']);
});

test('fail-safe turns everything off at once; missing outputs are skipped', (t) => {
  const { timers, outputs, driver } = rig(['green', 'amber', 'red']);
  driver.show({ level: 'RED', reason: 'fracture', label: 'fracture' });
  timers.tick(100);
  driver.failSafe();
  t.deepEqual(outputs.lit(), []);
  timers.tick(10_000);
  t.deepEqual(outputs.lit(), [], 'no timer relights a lamp after fail-safe');
  t.false(outputs.writes.some((w) => w.lamp === 'buzzer'), 'no buzzer wired, none written');
});
