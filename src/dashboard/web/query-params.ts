import { LEVELS, parseCursor, type Level, type ResultFilter } from '../database/queries.js';
import { badRequest } from './http-errors.js';

const DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A date, or a date and time with its zone: a time without one would mean the server's zone. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FILTER_PARAMS = new Set(['device', 'level', 'acknowledged', 'since', 'until', 'before', 'limit']);

export interface LimitBounds {
  default: number;
  max: number;
}

function timestamp(name: string, value: string): Date {
  const at = new Date(value);
  if (!TIMESTAMP.test(value) || Number.isNaN(at.getTime())) {
    throw badRequest(`${name} must be an ISO 8601 date or date-time with a zone (2026-11-26 or 2026-11-26T23:50:00Z), not "${value}"`);
  }
  return at;
}

/** The results filters from a query string; a 400 naming the parameter for anything it cannot use. */
export function resultFilter(query: Record<string, string>, limits: LimitBounds): ResultFilter {
  const unknown = Object.keys(query).filter((name) => !FILTER_PARAMS.has(name));
  if (unknown.length > 0) throw badRequest(`unknown parameter ${unknown.map((name) => `"${name}"`).join(', ')}; known: ${[...FILTER_PARAMS].join(', ')}`);
  const filter: ResultFilter = { limit: limits.default };
  const { device, level, acknowledged, since, until, before, limit } = query;
  if (device !== undefined && device !== '') {
    if (!DEVICE_ID.test(device)) throw badRequest(`device must be a device id (letters, digits, "-", "_"), not "${device}"`);
    filter.device = device;
  }
  if (level !== undefined && level !== '') {
    const upper = level.toUpperCase();
    if (!(LEVELS as readonly string[]).includes(upper)) throw badRequest(`level must be one of ${LEVELS.join(', ')}, not "${level}"`);
    filter.level = upper as Level;
  }
  if (acknowledged !== undefined && acknowledged !== '') {
    if (acknowledged !== 'true' && acknowledged !== 'false') throw badRequest(`acknowledged must be true or false, not "${acknowledged}"`);
    filter.acknowledged = acknowledged === 'true';
  }
  if (since !== undefined && since !== '') filter.since = timestamp('since', since);
  if (until !== undefined && until !== '') filter.until = timestamp('until', until);
  if (filter.since && filter.until && filter.since >= filter.until) throw badRequest('since must be before until');
  if (before !== undefined && before !== '') {
    const cursor = parseCursor(before);
    if (!cursor) throw badRequest(`before must be a cursor from a previous page (nextCursor), not "${before}"`);
    filter.before = cursor;
  }
  if (limit !== undefined && limit !== '') {
    const n = Number(limit);
    if (!/^\d+$/.test(limit) || n < 1 || n > limits.max) throw badRequest(`limit must be a whole number from 1 to ${limits.max}, not "${limit}"`);
    filter.limit = n;
  }
  return filter;
}

/** A result id from the path; a 400 for anything that cannot be one. */
export function resultId(value: string): string {
  if (!UUID.test(value)) throw badRequest(`"${value}" is not a result id (a UUID)`);
  return value.toLowerCase();
}

/** A live-feed position: `Last-Event-ID` (set by EventSource on reconnect) or `?after=`. */
export function livePosition(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,15}$/.test(value)) throw badRequest(`after must be a result seq (a whole number), not "${value}"`);
  return Number(value);
}
