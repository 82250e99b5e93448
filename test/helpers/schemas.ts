import type { ExecutionContext } from 'ava';
import { PayloadSchemas } from '../../src/dashboard/ingest/payload-schemas.js';

const schemas = new PayloadSchemas();

export function assertValidPayload(t: ExecutionContext, payload: Record<string, unknown>): void {
  const verdict = schemas.check(payload);
  t.true(verdict.ok, `${String(payload.schema)} invalid: ${verdict.ok ? '' : verdict.reason} in ${JSON.stringify(payload).slice(0, 300)}`);
}
