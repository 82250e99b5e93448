import FakeTimers from '@sinonjs/fake-timers';
import test from 'ava';
import { LogThrottle } from '../../src/capture/dicom-receiver/log-throttle.js';

function rig(t: import('ava').ExecutionContext) {
  const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout'] });
  t.teardown(() => clock.uninstall());
  const throttle = new LogThrottle(10_000);
  const lines: string[] = [];
  const refused = (peer: string, n: number) =>
    throttle.log(
      peer,
      () => lines.push(`${peer} #${n}`),
      (suppressed) => lines.push(`${peer} +${suppressed}`),
    );
  return { clock, throttle, lines, refused };
}

test.serial('one line per key and window, then one summary per window with the count, until the flood stops', (t) => {
  const { clock, lines, refused } = rig(t);
  for (let n = 1; n <= 500; n++) refused('10.0.0.9', n);
  refused('10.0.0.7', 1);
  t.deepEqual(lines, ['10.0.0.9 #1', '10.0.0.7 #1'], 'each peer has its own window');

  clock.tick(10_000);
  t.deepEqual(lines.slice(2), ['10.0.0.9 +499'], 'a window without more connections closes without a line');
  for (let n = 501; n <= 520; n++) refused('10.0.0.9', n);
  clock.tick(10_000);
  t.deepEqual(lines.slice(3), ['10.0.0.9 +20'], 'the flood goes on: one summary per window, no line per connection');

  clock.tick(10_000);
  t.is(lines.length, 4, 'a quiet window writes nothing');
  refused('10.0.0.9', 521);
  t.deepEqual(lines.slice(4), ['10.0.0.9 #521'], 'after a quiet window the next refusal is logged in full again');
});

test.serial('flush writes the counts still open and clears every window', (t) => {
  const { clock, throttle, lines, refused } = rig(t);
  refused('10.0.0.9', 1);
  refused('10.0.0.9', 2);
  refused('10.0.0.7', 1);
  throttle.flush();
  t.deepEqual(lines, ['10.0.0.9 #1', '10.0.0.7 #1', '10.0.0.9 +1']);
  t.is(clock.countTimers(), 0, 'no timer left behind');
  refused('10.0.0.9', 3);
  t.is(lines.at(-1), '10.0.0.9 #3');
});
