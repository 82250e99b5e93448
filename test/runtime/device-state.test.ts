import test from 'ava';
import { lampStateOf } from '../../src/indicators/front-panel.js';
import { DeviceStatus } from '../../src/runtime/device-state.js';
import type { DeviceState } from '../../src/runtime/events.js';
import { EventBus } from '../../src/runtime/event-bus.js';
import { capturedLogger } from '../helpers/fixtures.js';

function device() {
  const bus = new EventBus(capturedLogger().logger);
  const status = new DeviceStatus(bus);
  const seen: DeviceState[] = [];
  bus.on('deviceStateChanged', seen, (state) => seen.push(state));
  return { bus, status, seen };
}

const commit = (sha256: string, level: 'GREEN' | 'RED') => ({
  file: `${sha256}.png`,
  sha256,
  kind: 'classified' as const,
  triage: { level, reason: level === 'GREEN' ? 'normal' : 'fracture' },
  label: level === 'GREEN' ? 'normal' : 'fracture',
  readyAt: new Date(),
  committedAt: new Date(),
});

test('starting → ready → processing → result → acknowledged, and the lamps follow', (t) => {
  const { bus, status, seen } = device();
  t.is(status.current.state, 'starting');
  bus.emit('modelChanged', { id: 'm1', sha256: 'a'.repeat(64), cam: false });
  bus.emit('imageStarted', { file: 'x.png', waiting: 2 });
  bus.emit('resultCommitted', commit('s1', 'RED'));
  status.acknowledge();
  t.deepEqual(seen.map((state) => state.state), ['ready', 'processing', 'result', 'acknowledged']);
  t.deepEqual(seen.map((state) => lampStateOf(state).level), ['IDLE', 'PROCESSING', 'RED', 'IDLE']);
  t.like(lampStateOf(seen[1]!), { level: 'PROCESSING', reason: 'x.png (2 more waiting)' });
  t.like(lampStateOf(seen[2]!), { level: 'RED', label: 'fracture' });
  t.true(status.showLastResult());
  t.like(status.current, { state: 'result', sha256: 's1' });
});

test('a fault wins over everything until its own recovery clears it; the worst fault is shown', (t) => {
  const { bus, status } = device();
  bus.emit('modelChanged', { id: 'm1', sha256: 'a'.repeat(64), cam: false });
  bus.emit('faultRaised', { kind: 'capture', code: 'E_CAPTURE_FOLDER_FAILED', message: 'capture folder gone. More detail.' });
  t.like(lampStateOf(status.current), { level: 'FAULT', reason: 'E_CAPTURE_FOLDER_FAILED: capture folder gone' });
  bus.emit('faultRaised', { kind: 'model', code: 'E_SELF_TEST_FAILED', message: 'drift' });
  t.like(status.current, { state: 'fault', fault: { kind: 'model' } });
  bus.emit('faultCleared', 'capture');
  t.like(status.current, { state: 'fault', fault: { kind: 'model' } }, 'the model fault is still there');
  t.false(status.showLastResult(), 'no result is shown over a fault');
  bus.emit('modelChanged', { id: 'm2', sha256: 'b'.repeat(64), cam: false });
  t.like(status.current, { state: 'ready', model: { id: 'm2' } });
});

test('a pipeline fault is cleared by the next committed result', (t) => {
  const { bus, status } = device();
  bus.emit('modelChanged', { id: 'm1', sha256: 'a'.repeat(64), cam: false });
  bus.emit('faultRaised', { kind: 'image-pipeline', code: 'E_STORE_FAILED', message: 'disk full' });
  t.is(status.current.state, 'fault');
  bus.emit('resultCommitted', commit('s2', 'GREEN'));
  t.like(status.current, { state: 'result', triage: { level: 'GREEN' } });
  t.deepEqual(status.activeFaults, []);
});

test('acknowledge with no result showing changes nothing', (t) => {
  const { bus, status, seen } = device();
  bus.emit('modelChanged', { id: 'm1', sha256: 'a'.repeat(64), cam: false });
  status.acknowledge();
  t.deepEqual(seen.map((state) => state.state), ['ready']);
});

test('a listener that throws does not stop the others', (t) => {
  const log = capturedLogger();
  const bus = new EventBus(log.logger);
  const heard: string[] = [];
  bus.on('imageStarted', heard, () => {
    throw new Error('broken subscriber');
  });
  bus.on('imageStarted', heard, ({ file }) => heard.push(file));
  bus.emit('imageStarted', { file: 'a.png', waiting: 0 });
  t.deepEqual(heard, ['a.png']);
  t.true(log.lines.some((line) => line.event === 'imageStarted' && line.err === 'broken subscriber'));
  bus.off(heard);
  bus.emit('imageStarted', { file: 'b.png', waiting: 0 });
  t.deepEqual(heard, ['a.png']);
});
