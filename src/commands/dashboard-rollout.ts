import os from 'node:os';
import type { Config } from '../config/schema.js';
import { CspineError, ErrorCode } from '../errors.js';
import type { DashboardDatabase } from '../dashboard/database/database.js';
import { fleetUpdates, type FleetUpdates } from '../dashboard/updates/fleet-updates.js';
import { rolloutTarget } from '../dashboard/updates/rollout-plan.js';
import type { RolloutDevice, RolloutSummary } from '../dashboard/updates/rollouts.js';
import { commandLogger, mebibytes, operand, textTable, utcSeconds, withDashboardDatabase } from './dashboard-cli.js';
import { commandConfig, CONFIG_OPTION, defineCommand, numberInRange, positiveInteger, UsageError } from './options.js';

const ACTIONS = ['create', 'list', 'show', 'advance', 'halt', 'rollback'] as const;
type Action = (typeof ACTIONS)[number];

export interface RolloutOptions {
  package?: string | undefined;
  devices?: string | undefined;
  group?: string | undefined;
  all?: boolean | undefined;
  canary?: string | undefined;
  canaryPercent?: string | undefined;
  noAutoAdvance?: boolean | undefined;
  waitSeconds: string;
}

function list(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((item) => item.trim()).filter(Boolean);
}

function counts(rollout: RolloutSummary): string {
  const { total, byState } = rollout.devices;
  const running = (byState.active ?? 0) + (byState.confirmed ?? 0);
  const failed = (byState.failed ?? 0) + (byState['rolled-back'] ?? 0);
  return `${running}/${total} running it${failed > 0 ? `, ${failed} failed or rolled back` : ''}`;
}

function rolloutTable(rollouts: readonly RolloutSummary[]): string {
  if (rollouts.length === 0) return 'no rollout yet: cspine-edge dashboard rollout create --package SHA --devices ID,ID\n';
  const rows = rollouts.map((rollout) => [rollout.id, rollout.state, `${rollout.package.modelId} ${rollout.package.manifestSha256.slice(0, 12)}`, rollout.target, counts(rollout), utcSeconds(rollout.createdAt)]);
  return textTable(['rollout', 'state', 'package', 'target', 'devices', 'created (UTC)'], rows);
}

function progress(device: RolloutDevice): string {
  if (device.bytesTotal === null || device.bytesTotal === 0) return '';
  return `${mebibytes(device.bytesDone ?? 0)} of ${mebibytes(device.bytesTotal)}`;
}

function rolloutDetail(rollout: RolloutSummary, devices: readonly RolloutDevice[]): string {
  const head = [
    `rollout ${rollout.id}: ${rollout.state}${rollout.reason ? ` (${rollout.reason})` : ''}`,
    `package ${rollout.package.manifestSha256} (${rollout.package.modelId}) to ${rollout.target}`,
    `created ${utcSeconds(rollout.createdAt)} UTC by ${rollout.createdBy}; auto-advance ${rollout.autoAdvance ? 'on' : 'off'}; ${counts(rollout)}`,
    '',
  ].join('\n');
  const rows = devices.map((device) => [device.deviceId, device.stage, device.state, progress(device), device.code ?? '', device.message ?? '', device.reportedAt ? utcSeconds(device.reportedAt) : '']);
  return head + textTable(['device', 'stage', 'state', 'downloaded', 'code', 'message', 'reported (UTC)'], rows);
}

/** What the command line leaves to a running dashboard, said plainly. */
function sendReport({ brokerReached, sent, left }: { brokerReached: boolean; sent: number; left: number }, waitMs: number): string {
  if (!brokerReached) return `the broker did not answer within ${waitMs / 1000} s: the commands wait, and a running dashboard sends them\n`;
  const unsent = left > 0 ? `; ${left} not acknowledged by the broker in time: a running dashboard sends them` : '';
  return `${sent} command${sent === 1 ? '' : 's'} sent${unsent}\n`;
}

async function run(action: Action, positionals: readonly string[], options: RolloutOptions, updates: FleetUpdates): Promise<void> {
  const { rollouts, dispatcher } = updates;
  const by = os.userInfo().username;
  const waitMs = positiveInteger('wait-seconds', options.waitSeconds) * 1000;
  const out = (text: string) => process.stdout.write(text);
  switch (action) {
    case 'list':
      out(rolloutTable(await rollouts.list()));
      return;
    case 'show': {
      const id = operand(positionals, 1, 'rollout id');
      const shown = await rollouts.show(id);
      if (!shown) throw new CspineError(ErrorCode.DASHBOARD_ROLLOUT_INVALID, `no rollout ${id} (dashboard rollout list)`);
      out(rolloutDetail(shown.rollout, shown.devices));
      return;
    }
    case 'create': {
      if (options.package === undefined) throw new UsageError('--package SHA is required');
      const canary = list(options.canary);
      const rollout = await rollouts.create({
        package: options.package,
        target: rolloutTarget({ devices: list(options.devices), group: options.group, all: options.all }),
        ...(canary !== undefined ? { canary } : {}),
        ...(options.canaryPercent !== undefined ? { canaryPercent: numberInRange('canary-percent', options.canaryPercent, 0, 100) } : {}),
        ...(options.noAutoAdvance ? { autoAdvance: false } : {}),
        createdBy: by,
      });
      out(`created rollout ${rollout.id}: ${rollout.package.modelId} to ${rollout.target}, ${rollout.devices.canary} canar${rollout.devices.canary === 1 ? 'y' : 'ies'} first (${rollout.state})\n`);
      out(sendReport(await dispatcher.sendDue(waitMs), waitMs));
      return;
    }
    case 'advance':
    case 'rollback': {
      const id = operand(positionals, 1, 'rollout id');
      const rollout = action === 'advance' ? await rollouts.advance(id) : await rollouts.rollback(id, by);
      out(`rollout ${rollout.id} is ${rollout.state}\n`);
      out(sendReport(await dispatcher.sendDue(waitMs), waitMs));
      return;
    }
    case 'halt': {
      const rollout = await rollouts.halt(operand(positionals, 1, 'rollout id'), by);
      out(`rollout ${rollout.id} is halted: no further commands go out (roll it back to undo what was installed)\n`);
      return;
    }
  }
}

export async function dashboardRolloutCommand(config: Config, action: string, positionals: readonly string[], options: RolloutOptions): Promise<number> {
  if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown action "${action}": ${ACTIONS.join(', ')}`);
  const logger = commandLogger(config);
  const owner = `cli-${os.hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-${process.pid}`;
  await withDashboardDatabase(config, logger, (database: DashboardDatabase) => run(action as Action, positionals, options, fleetUpdates(config.dashboard, database, logger, owner)));
  return 0;
}

export const dashboardRollout = defineCommand({
  synopsis: `dashboard rollout create --package SHA (--devices ID,ID | --group NAME | --all)
                 [--canary ID,ID | --canary-percent N] [--no-auto-advance] [--wait-seconds N]
       cspine-edge dashboard rollout list
       cspine-edge dashboard rollout show ROLLOUT
       cspine-edge dashboard rollout advance|halt|rollback ROLLOUT [--wait-seconds N]`,
  about: `Rolls a stored package (dashboard package add) out to devices, canaries first
(docs/model-updates.md#on-the-dashboard). create sends the canaries their install commands
(retained MQTT, QoS 1); the rest follow when every canary reports active or confirmed
(dashboard.updates.autoAdvance) or on advance. A device reporting failed or rolled-back halts the
rollout. halt sends nothing more; rollback sends every device that was sent the install a
rollback command. Commands the broker does not acknowledge within --wait-seconds are left to a
running dashboard. Refusals are E_DASHBOARD_ROLLOUT_INVALID.`,
  options: {
    package: { type: 'string' },
    devices: { type: 'string' },
    group: { type: 'string' },
    all: { type: 'boolean' },
    canary: { type: 'string' },
    'canary-percent': { type: 'string' },
    'no-auto-advance': { type: 'boolean' },
    'wait-seconds': { type: 'string', default: '15' },
    ...CONFIG_OPTION,
  },
  optionHelp: `  --package SHA             the package's manifest SHA-256, or its first digits (dashboard package list)
  --devices ID,ID           these devices
  --group NAME              the devices of dashboard.updates.groups.NAME
  --all                     every device the dashboard has heard from
  --canary ID,ID            these devices first (some of the rollout's)
  --canary-percent N        this share of the devices first, at random (default dashboard.updates.canaryPercent)
  --no-auto-advance         wait for "rollout advance" after the canaries
  --wait-seconds N          how long to wait for the broker to take the commands (default 15)`,
  operands: true,
  run: ({ values, positionals }) =>
    dashboardRolloutCommand(commandConfig(values), operand(positionals, 0, `action (${ACTIONS.join(', ')})`), positionals, {
      package: values.package,
      devices: values.devices,
      group: values.group,
      all: values.all,
      canary: values.canary,
      canaryPercent: values['canary-percent'],
      noAutoAdvance: values['no-auto-advance'],
      waitSeconds: values['wait-seconds'],
    }),
});
