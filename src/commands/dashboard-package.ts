import os from 'node:os';
import type { Config } from '../config/schema.js';
import { PackageStore, type PackageSummary } from '../dashboard/updates/package-store.js';
import { commandLogger, mebibytes, operand, textTable, utcSeconds, withDashboardDatabase } from './dashboard-cli.js';
import { commandConfig, CONFIG_OPTION, defineCommand, UsageError } from './options.js';

function packageTable(packages: readonly PackageSummary[]): string {
  if (packages.length === 0) return 'no package yet: cspine-edge dashboard package add MODEL_DIR\n';
  const rows = packages.map((found) => [found.manifestSha256.slice(0, 12), found.modelId, found.keyId, String(found.files.length), mebibytes(found.totalBytes), utcSeconds(found.addedAt), found.addedBy]);
  return textTable(['package', 'model', 'signed by', 'files', 'size', 'added (UTC)', 'by'], rows);
}

export async function dashboardPackageCommand(config: Config, action: string, positionals: readonly string[]): Promise<number> {
  if (action !== 'add' && action !== 'list') throw new UsageError(`unknown action "${action}": add or list`);
  const modelDir = action === 'add' ? operand(positionals, 1, 'MODEL_DIR') : undefined;
  await withDashboardDatabase(config, commandLogger(config), async (database) => {
    const store = new PackageStore(database, config.dashboard.updates);
    if (modelDir === undefined) {
      process.stdout.write(packageTable(await store.list()));
      return;
    }
    const { summary, added } = await store.add(modelDir, os.userInfo().username);
    const what = `${summary.modelId} (${summary.files.length} files, ${mebibytes(summary.totalBytes)}, signed by key ${summary.keyId})`;
    process.stdout.write(added ? `added package ${summary.manifestSha256}: ${what}\n` : `package ${summary.manifestSha256} was added already (${utcSeconds(summary.addedAt)} UTC by ${summary.addedBy}): ${what}\n`);
  });
  return 0;
}

export const dashboardPackage = defineCommand({
  synopsis: `dashboard package add MODEL_DIR
       cspine-edge dashboard package list`,
  about: `The model packages the dashboard can roll out (docs/model-updates.md#on-the-dashboard). add verifies
MODEL_DIR's manifest.sig against dashboard.updates.trustedKeys and every file against the verified
manifest, as a device would, then stores manifest.json, manifest.sig and the files in
dashboard.updates.dir/<manifest sha256>/; a package refused is E_DASHBOARD_PACKAGE_INVALID with
the reason's own code. Adding a package that is stored already changes nothing.`,
  options: CONFIG_OPTION,
  operands: true,
  run: ({ values, positionals }) => dashboardPackageCommand(commandConfig(values), operand(positionals, 0, 'action (add or list)'), positionals),
});
