import { PassThrough } from 'node:stream';
import test from 'ava';
import { ProgressBar } from '../../src/ui/progress.js';

function stream(isTTY: boolean) {
  const out = Object.assign(new PassThrough(), { isTTY, columns: 120 });
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { out, text: () => text };
}

test('draws count, rate and the current file on a terminal, ending with a newline', (t) => {
  const { out, text } = stream(true);
  const bar = new ProgressBar(4, out);
  for (const name of ['a.png', 'b.png', 'c.png', 'd.png']) bar.tick(name);
  const frames = text().split('\r').filter(Boolean);
  t.is(frames.length, 4);
  t.regex(frames[1]!, /\[#{15}\.{15}\] 2\/4 .*b\.png/);
  t.regex(frames[3]!, /\[#{30}\] 4\/4 .*d\.png\n$/);
});

test('stays silent when not on a terminal', (t) => {
  const { out, text } = stream(false);
  const bar = new ProgressBar(2, out);
  bar.tick('a');
  bar.tick('b');
  t.is(text(), '');
});
