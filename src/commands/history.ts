import fs from 'node:fs';
import type { Config } from '../config/schema.js';
import { openDatabase } from '../store/database.js';
import { History, type HistoryEntry } from '../store/history.js';
import { Outbox } from '../store/outbox.js';
import { commandConfig, CONFIG_OPTION, defineCommand, positiveInteger } from './options.js';

export function historyCommand(config: Config, options: { json: boolean; limit: number }): number {
  if (!fs.existsSync(config.store.path)) {
    if (!options.json) process.stdout.write(`no history yet: ${config.store.path} does not exist (start the service with "npm start")\n`);
    return 0;
  }
  const db = openDatabase(config.store.path, { readonly: true });
  try {
    const entries = new History(db).recent(options.limit);
    if (options.json) {
      for (const entry of entries) process.stdout.write(`${JSON.stringify(entry)}\n`);
    } else {
      process.stdout.write(table(entries));
      const { pending, oldestPendingAt } = new Outbox(db).backlog();
      process.stdout.write(
        pending === 0 ? 'outbox: nothing waiting for MQTT delivery\n' : `outbox: ${pending} message(s) waiting for MQTT delivery, oldest from ${oldestPendingAt}\n`,
      );
    }
  } finally {
    db.close();
  }
  return 0;
}

function table(entries: HistoryEntry[]): string {
  if (entries.length === 0) return 'no images recorded yet\n';
  const rows = entries.map((entry) => [
    entry.processedAt.replace('T', ' ').slice(0, 19),
    entry.triage.level,
    entry.outcome === 'classified' ? entry.label! : entry.error!.code,
    entry.delivery === null ? '-' : entry.delivery.deliveredAt === null ? 'waiting' : 'yes',
    entry.source,
    entry.triage.reason,
  ]);
  const header = ['processed (UTC)', 'lamp', 'label / error', 'sent', 'file', 'reason'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const format = (row: string[]) => `${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`;
  return format(header) + rows.map(format).join('');
}

export const history = defineCommand({
  synopsis: 'history [--json] [--limit N]',
  about: 'The latest results the service recorded, newest first, and what waits for MQTT delivery.',
  options: { json: { type: 'boolean', default: false }, limit: { type: 'string', default: '20' }, ...CONFIG_OPTION },
  optionHelp: `  --json                    one JSON line per result
  --limit N                 how many (default 20)`,
  run: ({ values }) => historyCommand(commandConfig(values), { json: values.json, limit: positiveInteger('limit', values.limit) }),
});
