/**
 * A process that lights GREEN on simulated GPIO outputs mirrored to a file, installs the
 * service's fail-safe, then dies of an uncaught exception (argv[2]: the state file).
 */
import { installFailSafe } from '../../src/indicators/fail-safe.js';
import { LampDriver } from '../../src/indicators/lamp-driver.js';
import { createLogger } from '../../src/logger.js';
import { RecordingOutputs } from './gpio.js';

const driver = new LampDriver(new RecordingOutputs(() => performance.now(), undefined, process.argv[2]));
installFailSafe(driver, createLogger('info'));
driver.show({ level: 'GREEN', reason: 'normal (P=97.0%)' });
setTimeout(() => {
  throw new Error('something broke after GREEN was lit');
}, 50);
