import { z } from 'zod';

/**
 * schemas/model-command.v1.json as zod, field for field (a test holds the two to the same
 * verdicts): the device validates what it receives without the dashboard's ajv.
 */
const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

export const modelCommandSchema = z.strictObject({
  schema: z.literal('cspine.model-command.v1'),
  id: uuid,
  deviceId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  issuedAt: z.iso.datetime({ offset: true }),
  action: z.enum(['install', 'rollback']),
  rolloutId: uuid,
  package: z
    .strictObject({
      manifestSha256: sha256Hex,
      modelId: z.string().regex(/^[A-Za-z0-9._-]+$/),
      totalBytes: z.int().min(1),
      files: z
        .array(
          z.strictObject({
            name: z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/),
            sha256: sha256Hex,
            bytes: z.int().min(0),
          }),
        )
        .min(1),
    })
    .optional(),
  download: z.strictObject({ token: z.string().regex(/^[A-Za-z0-9_-]{32,128}$/) }).optional(),
});

export type ModelCommand = z.infer<typeof modelCommandSchema>;

/**
 * What arrived on the command topic. Not valid: `problem` says why, and the command's `id` and
 * `rolloutId` come along when they could be read, so the failure can still be reported.
 */
export type ReceivedModelCommand = { ok: true; command: ModelCommand } | { ok: false; problem: string; id?: string; rolloutId?: string };

export function parseModelCommand(bytes: Buffer): ReceivedModelCommand {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    return { ok: false, problem: `not JSON: ${(error as Error).message}` };
  }
  const parsed = modelCommandSchema.safeParse(json);
  if (parsed.success) return { ok: true, command: parsed.data };
  const problem = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`).join('; ');
  const ids = z.looseObject({ id: uuid, rolloutId: uuid }).safeParse(json);
  return { ok: false, problem, ...(ids.success ? { id: ids.data.id, rolloutId: ids.data.rolloutId } : {}) };
}
