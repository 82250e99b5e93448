import type { ResultSummary } from '../database/queries.js';

export const CSV_HEADER = [
  'id',
  'device',
  'processed_at',
  'ingested_at',
  'outcome',
  'level',
  'label',
  'reason',
  'probabilities',
  'error_code',
  'model_id',
  'model_sha256',
  'acknowledged_by',
  'acknowledged_at',
];

/**
 * One CSV field (RFC 4180). Text starting with = + - @ or a tab is prefixed with ' so that a
 * spreadsheet shows it instead of running it as a formula.
 */
function field(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvLine(values: Array<string | number | null>): string {
  return `${values.map(field).join(',')}\r\n`;
}

/**
 * A result as a CSV line. No pseudonyms either: an export leaves the dashboard's access control,
 * and the result id is enough to find the result again.
 */
export function resultCsvLine(result: ResultSummary): string {
  const probabilities = result.probabilities
    ? Object.entries(result.probabilities)
        .map(([name, p]) => `${name}=${p}`)
        .join(' ')
    : null;
  return csvLine([
    result.id,
    result.deviceId,
    result.processedAt,
    result.ingestedAt,
    result.outcome,
    result.level,
    result.label,
    result.reason,
    probabilities,
    result.errorCode,
    result.model?.id ?? null,
    result.model?.sha256 ?? null,
    result.acknowledged?.by ?? null,
    result.acknowledged?.at ?? null,
  ]);
}
