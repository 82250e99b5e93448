import fs from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/** schemas/ at the repository (and package) root, from src/dashboard/ingest or dist/dashboard/ingest. */
const SCHEMA_DIR = new URL('../../../schemas/', import.meta.url);
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export type PayloadVerdict = { ok: true } | { ok: false; reason: string };

/**
 * The repository's JSON Schemas for the messages devices send (docs/mqtt.md), keyed by the
 * payloads' own `schema` field (`cspine.result.v1`, ...). One copy of the contract, used by the
 * dashboard's ingest and by the tests that check what devices publish.
 */
export class PayloadSchemas {
  private readonly validators: ReadonlyMap<string, ValidateFunction>;

  constructor() {
    const ajv = addFormats(new Ajv({ allErrors: true, strict: true }));
    this.validators = new Map(
      fs
        .readdirSync(SCHEMA_DIR)
        .filter((file) => file.endsWith('.json'))
        .map((file) => {
          const schema = JSON.parse(fs.readFileSync(new URL(file, SCHEMA_DIR), 'utf8')) as object;
          return [`cspine.${file.replace(/\.json$/, '')}`, ajv.compile(schema)] as const;
        }),
    );
  }

  /** Whether `payload` is a valid message of the schema it names; `expected` (e.g. "result") must match the name. */
  check(payload: unknown, expected?: string): PayloadVerdict {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return { ok: false, reason: 'not a JSON object' };
    const name = (payload as { schema?: unknown }).schema;
    if (typeof name !== 'string') return { ok: false, reason: 'no "schema" field' };
    if (expected !== undefined && !new RegExp(`^cspine\\.${expected}\\.v\\d+$`).test(name)) return { ok: false, reason: `a ${name} payload on a ${expected} topic` };
    const validate = this.validators.get(name);
    if (!validate) return { ok: false, reason: `unknown schema "${name}"` };
    if (validate(payload)) return { ok: true };
    const problems = (validate.errors ?? []).slice(0, 5).map((error) => `${error.instancePath || '/'} ${error.message ?? 'is invalid'}`);
    return { ok: false, reason: `${name}: ${problems.join('; ')}` };
  }
}
