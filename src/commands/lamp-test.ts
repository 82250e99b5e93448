import type { Config } from '../config/schema.js';
import { installFailSafe } from '../indicators/fail-safe.js';
import { selectIndicators } from '../indicators/select.js';
import { createLogger } from '../logger.js';
import { commandConfig, CONFIG_OPTION, defineCommand } from './options.js';

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

/**
 * `cspine-edge lamps-off`: every lamp off. For systemd's ExecStopPost: a service killed by its
 * watchdog runs no exit handler, and sysfs lines keep their last level.
 */
export async function lampsOffCommand(config: Config): Promise<number> {
  const { indicators, button } = selectIndicators({ ...config.indicators, render: false });
  button?.close();
  await indicators.close();
  process.stdout.write(`lamps off (${indicators.backend})\n`);
  return 0;
}

export const lampTest = defineCommand({
  synopsis: 'lamp-test',
  about: 'Lights each lamp in turn (and the buzzer) on the configured backend.',
  options: CONFIG_OPTION,
  run: ({ values }) => lampTestCommand(commandConfig(values)),
});

export const lampsOff = defineCommand({
  synopsis: 'lamps-off',
  about: "Turns every lamp off: systemd's ExecStopPost, after the service stopped or was killed.",
  options: CONFIG_OPTION,
  run: ({ values }) => lampsOffCommand(commandConfig(values)),
});
