import test from 'ava';
import { lampStateOf } from '../../src/indicators/front-panel.js';
import { DeviceStatus } from '../../src/runtime/device-state.js';
import { EventBus } from '../../src/runtime/event-bus.js';
import { capturedLogger } from '../helpers/fixtures.js';

const model = (id: string) => ({ id, sha256: id.padEnd(64, '0'), cam: false });

test('a model switched in by an update leaves the result the crew is reading, and an image in flight, as they are', (t) => {
  const bus = new EventBus(capturedLogger().logger);
  const status = new DeviceStatus(bus);
  bus.emit('modelChanged', model('old'));
  bus.emit('imageStarted', { file: 'neck.png', waiting: 0 });
  bus.emit('modelChanged', model('new'));
  t.is(lampStateOf(status.current).level, 'PROCESSING');
  bus.emit('resultCommitted', { file: 'neck.png', sha256: 's1', kind: 'classified', triage: { level: 'RED', reason: 'fracture' }, label: 'fracture', readyAt: new Date(), committedAt: new Date() });
  bus.emit('modelChanged', model('newer'));
  t.like(lampStateOf(status.current), { level: 'RED', label: 'fracture' });

  status.acknowledge();
  bus.emit('modelChanged', model('newest'));
  t.like(status.current, { state: 'ready', model: { id: 'newest' } }, 'with nothing showing, ready names the model in service');
});

test('a model that clears a model fault makes the device ready, whatever it did before', (t) => {
  const bus = new EventBus(capturedLogger().logger);
  const status = new DeviceStatus(bus);
  bus.emit('modelChanged', model('old'));
  bus.emit('imageStarted', { file: 'neck.png', waiting: 0 });
  bus.emit('faultRaised', { kind: 'model', code: 'E_SELF_TEST_FAILED', message: 'drift' });
  bus.emit('modelChanged', model('new'));
  t.like(status.current, { state: 'ready', model: { id: 'new' } });
});
