import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const SCHEMAS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schemas');
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** The repository's JSON Schemas, keyed by the payloads' own `schema` field. */
const validators: Record<string, ValidateFunction> = (() => {
  const ajv = addFormats(new Ajv({ allErrors: true, strict: true }));
  return Object.fromEntries(
    fs.readdirSync(SCHEMAS).map((file) => {
      const schema = JSON.parse(fs.readFileSync(path.join(SCHEMAS, file), 'utf8')) as object;
      const name = file.replace(/\.v1\.json$/, '');
      return [`cspine.${name}.v1`, ajv.compile(schema)];
    }),
  );
})();

export function assertValidPayload(t: ExecutionContext, payload: Record<string, unknown>): void {
  const validate = validators[String(payload.schema)];
  if (!validate) {
    t.fail(`payload names no known schema: ${JSON.stringify(payload).slice(0, 200)}`);
    return;
  }
  t.true(validate(payload), `${String(payload.schema)} invalid: ${JSON.stringify(validate.errors)} in ${JSON.stringify(payload).slice(0, 300)}`);
}
