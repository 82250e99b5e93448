import { PassThrough } from 'node:stream';
import test from 'ava';
import { SimulatedIndicators } from '../../src/indicators/simulated.js';

function terminal(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

test('records every transition in order and closes with the lamps off', async (t) => {
  const lamps = new SimulatedIndicators();
  lamps.show({ level: 'PROCESSING', reason: 'a.png' });
  lamps.show({ level: 'RED', reason: 'fracture suspected (P=91.0%)' });
  await lamps.close();
  t.deepEqual(lamps.transitions.map((s) => s.level), ['PROCESSING', 'RED', 'IDLE']);
  t.true(lamps.transitions.every((s) => s.at instanceof Date));
});

test('draws which lamps are lit; FAULT lights amber and red together', (t) => {
  const out = terminal(false);
  const lamps = new SimulatedIndicators(out.stream);
  lamps.show({ level: 'GREEN', reason: 'normal (P=97.0%)' });
  lamps.show({ level: 'FAULT', reason: 'E_MODEL_NOT_FOUND: no model' });
  const [green, fault] = out.text().trim().split('\n');
  t.regex(green!, /\[GREEN\]\s+amber\s+red\s+GREEN: normal/);
  t.regex(fault!, /green\s+\[AMBER\] \[RED\]\s+FAULT: E_MODEL_NOT_FOUND/);
});

test('uses colour only on a terminal', (t) => {
  const tty = terminal(true);
  new SimulatedIndicators(tty.stream).show({ level: 'AMBER', reason: 'review' });
  t.true(tty.text().includes('\x1b[43;30m AMBER'));
  const pipe = terminal(false);
  new SimulatedIndicators(pipe.stream).show({ level: 'AMBER', reason: 'review' });
  t.false(pipe.text().includes('\x1b['));
});

test('keeps a bounded history for a service that runs for months', (t) => {
  const lamps = new SimulatedIndicators();
  for (let i = 0; i < 1000; i++) lamps.show({ level: 'GREEN', reason: String(i) });
  t.true(lamps.transitions.length <= 200);
  t.is(lamps.current?.reason, '999');
});
