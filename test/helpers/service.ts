import type { ExecutionContext } from 'ava';
import type { Config } from '../../src/config/schema.js';
import { SimulatedIndicators } from '../../src/indicators/simulated.js';
import type { CommitEvent } from '../../src/runtime/events.js';
import { Service } from '../../src/service.js';
import { capturedLogger } from './fixtures.js';

/** A started service with simulated lamps and a captured log, stopped when the test ends. `commits` fill as the lamp changes, `finished` once each file has been moved, `overlays` (image hashes) as heatmap overlays are written. */
export async function startService(t: ExecutionContext, config: Config) {
  const log = capturedLogger();
  const lamps = new SimulatedIndicators();
  const service = new Service(config, log.logger, lamps);
  const commits: CommitEvent[] = [];
  service.bus.on('resultCommitted', commits, (event) => commits.push(event));
  /** Files moved (or quarantined, or deleted) after their lamp. */
  const finished: string[] = [];
  service.bus.on('imageFinished', finished, ({ file }) => finished.push(file));
  const overlays: string[] = [];
  service.bus.on('overlayDrawn', overlays, ({ sha256 }) => overlays.push(sha256));
  await service.start();
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await service.stop();
  });
  const stop = async () => {
    stopped = true;
    await service.stop();
  };
  return { service, lamps, commits, finished, overlays, log, stop };
}
