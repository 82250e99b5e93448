import test from 'ava';
import { ConfigError, ErrorCode } from '../../src/errors.js';
import type { Capability, CapabilityHealth } from '../../src/runtime/capability.js';
import { Lifecycle, StartupError } from '../../src/runtime/lifecycle.js';
import { capturedLogger } from '../helpers/fixtures.js';

/** A capability that records its calls in a shared journal and can be told to fail. */
class Recorded implements Capability {
  running = false;
  constructor(
    readonly name: string,
    private readonly journal: string[],
    private readonly behaviour: { failStart?: Error; failStop?: Error; startMs?: number } = {},
  ) {}
  async start(): Promise<void> {
    this.journal.push(`start ${this.name}`);
    if (this.behaviour.startMs) await new Promise((resolve) => setTimeout(resolve, this.behaviour.startMs));
    if (this.behaviour.failStart) throw this.behaviour.failStart;
    this.running = true;
  }
  async stop(): Promise<void> {
    this.journal.push(`stop ${this.name}`);
    this.running = false;
    if (this.behaviour.failStop) throw this.behaviour.failStop;
  }
  health(): CapabilityHealth {
    return { status: 'ok', detail: `${this.name} fine` };
  }
}

test('capabilities start in order and stop in reverse', async (t) => {
  const journal: string[] = [];
  const lifecycle = new Lifecycle(['a', 'b', 'c'].map((name) => new Recorded(name, journal)), capturedLogger().logger);
  await lifecycle.start();
  t.deepEqual(lifecycle.health().map((h) => h.status), ['ok', 'ok', 'ok']);
  await lifecycle.stop();
  t.deepEqual(journal, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  t.deepEqual(lifecycle.health().map((h) => h.status), ['off', 'off', 'off']);
});

test('a failed start stops what had started, in reverse, and names the capability and its error', async (t) => {
  const journal: string[] = [];
  const log = capturedLogger();
  const secret = new ConfigError(ErrorCode.SITE_SECRET_INVALID, 'site secret too short');
  const parts = [new Recorded('lamps', journal), new Recorded('store', journal), new Recorded('site secret', journal, { failStart: secret }), new Recorded('jobs', journal)];
  const lifecycle = new Lifecycle(parts, log.logger);
  const error = await t.throwsAsync(lifecycle.start(), { instanceOf: StartupError });
  t.is(error?.capability, 'site secret');
  t.is(error?.problem, secret);
  t.regex(error?.message ?? '', /cannot start site secret: E_SITE_SECRET_INVALID: site secret too short/);
  t.deepEqual(journal, ['start lamps', 'start store', 'start site secret', 'stop store', 'stop lamps']);
  t.false(parts.some((part) => part.running));
  t.true(log.lines.some((line) => line.capability === 'site secret' && line.code === 'E_SITE_SECRET_INVALID'));
});

test('one capability failing to stop does not keep the others running', async (t) => {
  const journal: string[] = [];
  const log = capturedLogger();
  const parts = [new Recorded('a', journal), new Recorded('b', journal, { failStop: new Error('stuck') }), new Recorded('c', journal)];
  const lifecycle = new Lifecycle(parts, log.logger);
  await lifecycle.start();
  await lifecycle.stop();
  t.deepEqual(journal.slice(3), ['stop c', 'stop b', 'stop a']);
  t.true(log.lines.some((line) => line.capability === 'b' && line.err === 'stuck'));
});

test('a stop asked for during start-up stops the capability then starting and starts no more', async (t) => {
  const journal: string[] = [];
  const parts = [new Recorded('a', journal), new Recorded('slow', journal, { startMs: 100 }), new Recorded('never', journal)];
  const lifecycle = new Lifecycle(parts, capturedLogger().logger);
  const starting = lifecycle.start();
  await new Promise((resolve) => setTimeout(resolve, 30));
  await lifecycle.stop();
  await starting;
  t.false(journal.includes('start never'));
  t.false(parts.some((part) => part.running));
  t.deepEqual(journal, ['start a', 'start slow', 'stop a', 'stop slow']);
});
