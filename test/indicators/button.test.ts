import FakeTimers from '@sinonjs/fake-timers';
import test from 'ava';
import { ButtonGestures } from '../../src/indicators/button.js';

function rig() {
  const timers = FakeTimers.createClock(0);
  const events: string[] = [];
  const gestures = new ButtonGestures({
    debounceMs: 30,
    longPressMs: 3000,
    onShortPress: () => events.push(`short@${timers.now}`),
    onLongPress: () => events.push(`long@${timers.now}`),
    clock: { setTimeout: (cb, ms) => timers.setTimeout(cb, ms), clearTimeout: (h) => timers.clearTimeout(h as never) },
  });
  /** Level changes at the given times (ms), as a bouncing contact produces them. */
  const levels = (changes: Array<[number, boolean]>) => {
    for (const [at, pressed] of changes) {
      timers.setTimeout(() => gestures.input(pressed), at - timers.now);
    }
  };
  return { timers, events, levels };
}

test('a bouncing short press counts once, as a short press', (t) => {
  const { timers, events, levels } = rig();
  levels([[100, true], [102, false], [105, true], [108, false], [111, true], [400, false], [403, true], [406, false]]);
  timers.tick(5000);
  t.deepEqual(events, ['short@436']);
});

test('held for 3 s is a long press, reported while held, and no short press on release', (t) => {
  const { timers, events, levels } = rig();
  levels([[100, true], [5000, false]]);
  timers.tick(10_000);
  t.deepEqual(events, ['long@3130']);
});

test('a glitch shorter than the debounce time is ignored', (t) => {
  const { timers, events, levels } = rig();
  levels([[100, true], [110, false]]);
  timers.tick(5000);
  t.deepEqual(events, []);
});
