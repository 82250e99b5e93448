import type { Config } from '../config/schema.js';
import { installFailSafe } from '../indicators/fail-safe.js';
import { selectIndicators } from '../indicators/select.js';
import { createLogger } from '../logger.js';

/** `cspine-edge lamp-test`: each lamp in turn (and the buzzer) on the configured backend. */
export async function lampTestCommand(config: Config): Promise<number> {
  const { indicators, button, reason } = selectIndicators({ ...config.indicators, render: true });
  installFailSafe(indicators, createLogger('error'));
  process.stdout.write(`lamp backend: ${reason}\n`);
  process.stdout.write('showing green, amber, red, then the buzzer…\n');
  await indicators.lampTest();
  button?.close();
  await indicators.close();
  process.stdout.write('lamp test done: every lamp should have lit once, in that order\n');
  return 0;
}
