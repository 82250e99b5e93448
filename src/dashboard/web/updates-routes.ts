import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { CspineError, ErrorCode } from '../../errors.js';
import { mayManageUpdates } from '../database/accounts.js';
import type { PackageStore, UpdatesSettings } from '../updates/package-store.js';
import { rolloutTarget } from '../updates/rollout-plan.js';
import { isUnknownRollout, type Rollouts, type RolloutSummary } from '../updates/rollouts.js';
import { requireRole, type WebEnv } from './auth.js';
import { badRequest, errorBody } from './http-errors.js';

export interface UpdatesParts {
  packages: PackageStore;
  rollouts: Rollouts;
  settings: UpdatesSettings;
  /** A rollout changed here: send what is now due without waiting for the next sweep. */
  onRolloutChange(): void;
}

const deviceList = z.array(z.string().min(1)).min(1);
const createBody = z.strictObject({
  package: z.string().min(1),
  devices: deviceList.optional(),
  group: z.string().min(1).optional(),
  all: z.boolean().optional(),
  canary: deviceList.optional(),
  canaryPercent: z.number().min(0).max(100).optional(),
  autoAdvance: z.boolean().optional(),
});

/** A refused rollout action: 404 for a rollout that does not exist, else `status`. */
function refusal(error: unknown, status: 400 | 409): never {
  if (isUnknownRollout(error)) throw new HTTPException(404, { message: (error as Error).message });
  if (error instanceof CspineError && error.code === ErrorCode.DASHBOARD_ROLLOUT_INVALID) throw new HTTPException(status, { message: error.message });
  throw error;
}

/**
 * Fleet model updates: GET /api/packages, /api/device-groups, /api/rollouts, /api/rollouts/:id
 * for every signed-in user; POST /api/rollouts and /api/rollouts/:id/advance|halt|rollback
 * for admins (docs/model-updates.md#on-the-dashboard).
 */
export function updatesRoutes(parts: UpdatesParts): Hono<WebEnv> {
  const { packages, rollouts } = parts;
  const routes = new Hono<WebEnv>();
  const admin = requireRole(mayManageUpdates, 'manage model rollouts');

  routes.get('/packages', async (c) => c.json({ packages: await packages.list() }));

  routes.get('/device-groups', (c) => c.json({ groups: Object.entries(parts.settings.groups).map(([name, devices]) => ({ name, devices })) }));

  routes.get('/rollouts', async (c) => c.json({ rollouts: await rollouts.list() }));

  routes.get('/rollouts/:id', async (c) => {
    const shown = await rollouts.show(c.req.param('id'));
    return shown ? c.json(shown) : c.json(errorBody(`no rollout ${c.req.param('id')}`), 404);
  });

  routes.post('/rollouts', admin, bodyLimit({ maxSize: 256 * 1024 }), async (c) => {
    const parsed = createBody.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) throw badRequest(`send {"package", and one of "devices", "group", "all": true; optional "canary", "canaryPercent", "autoAdvance"}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ')}`);
    const body = parsed.data;
    let rollout: RolloutSummary;
    try {
      rollout = await rollouts.create({
        package: body.package,
        target: rolloutTarget(body),
        ...(body.canary !== undefined ? { canary: body.canary } : {}),
        ...(body.canaryPercent !== undefined ? { canaryPercent: body.canaryPercent } : {}),
        ...(body.autoAdvance !== undefined ? { autoAdvance: body.autoAdvance } : {}),
        createdBy: c.var.session.user,
      });
    } catch (error) {
      refusal(error, 400);
    }
    parts.onRolloutChange();
    return c.json({ rollout }, 201);
  });

  const actions = {
    advance: (id: string) => rollouts.advance(id),
    halt: (id: string, by: string) => rollouts.halt(id, by),
    rollback: (id: string, by: string) => rollouts.rollback(id, by),
  };
  for (const [name, act] of Object.entries(actions)) {
    routes.post(`/rollouts/:id/${name}`, admin, async (c) => {
      let rollout: RolloutSummary;
      try {
        rollout = await act(c.req.param('id'), c.var.session.user);
      } catch (error) {
        refusal(error, 409);
      }
      parts.onRolloutChange();
      return c.json({ rollout });
    });
  }

  return routes;
}
