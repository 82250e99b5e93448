import { Hono } from 'hono';
import type { Logger } from '../../logger.js';
import type { CapabilityHealth } from '../../runtime/capability.js';
import type { Accounts } from '../database/accounts.js';
import type { DashboardQueries } from '../database/queries.js';
import { requireCsrf, requireSession, type CookieSettings, type WebEnv } from './auth.js';
import { loginRoute, sessionRoutes } from './auth-routes.js';
import { downloadRoutes } from './download-route.js';
import { errorBody, errorHandler } from './http-errors.js';
import type { LiveFeed } from './live-feed.js';
import { liveRoute } from './live-route.js';
import type { LoginLimiter } from './login-limiter.js';
import { resultsRoutes } from './results-routes.js';
import { pageRoutes, pageSecurityHeaders, type PageFiles } from './static-page.js';
import { updatesRoutes, type UpdatesParts } from './updates-routes.js';

export interface AppParts {
  accounts: Accounts;
  queries: DashboardQueries;
  feed: LiveFeed;
  updates: UpdatesParts;
  limiter: LoginLimiter;
  page: PageFiles;
  cookies: CookieSettings;
  trustProxy: boolean;
  logger: Logger;
  health: () => Record<string, CapabilityHealth>;
}

/** The dashboard's routes, in the order they are checked: open ones first, then those behind a session. */
export function createApp(parts: AppParts): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  app.onError(errorHandler(parts.logger));
  app.use('*', pageSecurityHeaders());

  app.get('/healthz', (c) => {
    const health = parts.health();
    const failed = Object.values(health).some((part) => part.status === 'failed');
    return c.json({ status: failed ? 'failed' : 'ok', parts: health }, failed ? 503 : 200);
  });
  app.route('/', pageRoutes(parts.page));
  app.route('/api', loginRoute(parts));
  // Devices have no session: their install command's token is their key.
  app.route('/updates', downloadRoutes(parts.updates.packages, parts.updates.rollouts));

  app.use('/api/*', requireSession(parts.accounts), requireCsrf());
  app.route('/api', sessionRoutes(parts));
  app.route('/api', resultsRoutes(parts.queries));
  app.route('/api', liveRoute(parts.feed, parts.queries, parts.updates.rollouts, parts.logger));
  app.route('/api', updatesRoutes(parts.updates));

  app.notFound((c) => c.json(errorBody(`no route ${c.req.method} ${c.req.path}`), 404));
  return app;
}
