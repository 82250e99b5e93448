/** ood.csv: one row per image, written last (aside, then renamed) like synth's labels.csv. */
import { rename, writeFile } from 'node:fs/promises';
import type { PhantomLabel } from '../lesion.js';
import type { OodGroup } from './item.js';

export const OOD_CSV_HEADER = 'file,category,group,label,source';

export interface OodRow {
  /** Relative to the output folder, always with '/'. */
  file: string;
  category: string;
  group: OodGroup;
  label?: PhantomLabel;
  source: string;
}

export function csvLine(row: OodRow): string {
  // The generators write no commas or line breaks; this keeps a row a row if one ever does.
  const source = row.source.replace(/[,\r\n]+/g, ';');
  return [row.file, row.category, row.group, row.label ?? '', source].join(',');
}

export async function writeCsv(target: string, rows: readonly OodRow[]): Promise<void> {
  const partial = `${target}.partial`;
  await writeFile(partial, [OOD_CSV_HEADER, ...rows.map(csvLine)].join('\n') + '\n');
  await rename(partial, target);
}
