import { CspineError, ErrorCode } from '../errors.js';
import { commandLogger } from './dashboard-cli.js';
import { commandConfig, CONFIG_OPTION, defineCommand, positiveInteger } from './options.js';

const CONNECT_TIMEOUT_MS = 15_000;

// cspine-edge dashboard retire: the way out of the shared-subscription group (docs/dashboard.md).
export const dashboardRetire = defineCommand({
  synopsis: 'dashboard retire [--instance ID] [--quiet-seconds N] [--config FILE]',
  about: `Removes a dashboard instance from the group for good, losing nothing. While an instance is down
its broker sessions keep receiving their share of the devices' messages; this resumes every one of
them (lanes 0 to 63), stores what they kept, unsubscribes them so nothing new is assigned, and ends
them once no message has come for --quiet-seconds. Run it with the instance stopped, also after
lowering dashboard.mqtt.lanes. Exit 1 when the broker cannot be reached.`,
  options: {
    ...CONFIG_OPTION,
    instance: { type: 'string' },
    'quiet-seconds': { type: 'string', default: '5' },
  },
  optionHelp: `  --instance ID             the instanceId to retire (default: dashboard.instanceId of the config)
  --quiet-seconds N         end the sessions after N seconds without a message (default 5)`,
  run: async ({ values }) => {
    const config = commandConfig(values);
    const settings = { ...config.dashboard, instanceId: values.instance ?? config.dashboard.instanceId };
    const quietMs = positiveInteger('quiet-seconds', values['quiet-seconds']) * 1000;
    const logger = commandLogger(config);
    const [{ DashboardDatabase }, { Ingest }] = await Promise.all([import('../dashboard/database/database.js'), import('../dashboard/ingest/ingest.js')]);
    const database = new DashboardDatabase(settings.postgres, logger);
    const ingest = new Ingest(settings, database, logger, { retiring: true });
    await database.start();
    let sessions: number;
    try {
      await ingest.start();
      const started = Date.now();
      while (ingest.connections.connected < ingest.connections.lanes) {
        if (Date.now() - started > CONNECT_TIMEOUT_MS) {
          throw new CspineError(ErrorCode.DASHBOARD_BROKER_UNREACHABLE, `only ${ingest.connections.connected} of ${ingest.connections.lanes} sessions of "${settings.instanceId}" connected to ${settings.mqtt.url} within ${CONNECT_TIMEOUT_MS / 1000} s; nothing was ended`);
        }
        await sleep(100);
      }
      while (Date.now() - Math.max(ingest.counters.lastWrittenAt, started) < quietMs) await sleep(200);
      sessions = ingest.connections.lanes;
      await ingest.endSessions();
    } finally {
      // After endSessions() a no-op; after a failure it leaves every session as it was.
      await ingest.stop();
      await database.stop();
    }
    process.stdout.write(`retired dashboard instance "${settings.instanceId}": ${ingest.counters.messages} messages it held were stored (${ingest.counters.duplicates} already there), its ${sessions} broker sessions ended\n`);
    return 0;
  },
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
