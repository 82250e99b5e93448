import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Accounts, SessionUser } from '../database/accounts.js';
import { clearSessionCookie, sessionToken, setSessionCookie, type CookieSettings, type WebEnv } from './auth.js';
import { clientAddress } from './client-address.js';
import { errorBody } from './http-errors.js';
import type { LoginLimiter } from './login-limiter.js';

export interface AuthRouteOptions {
  accounts: Accounts;
  limiter: LoginLimiter;
  cookies: CookieSettings;
  trustProxy: boolean;
}

/** Longer would only make scrypt work for nothing. */
const MAX_CREDENTIAL_LENGTH = 1024;

function sessionView(session: SessionUser): { user: string; role: string; csrfToken: string; expiresAt: string } {
  return { user: session.user, role: session.role, csrfToken: session.csrfToken, expiresAt: session.expiresAt };
}

function credentials(body: unknown): { username: string; password: string } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { username, password } = body as Record<string, unknown>;
  if (typeof username !== 'string' || typeof password !== 'string') return undefined;
  if (username.length > MAX_CREDENTIAL_LENGTH || password.length > MAX_CREDENTIAL_LENGTH) return undefined;
  return { username, password };
}

/** POST /api/login: the one API route open without a session. */
export function loginRoute(options: AuthRouteOptions): Hono<WebEnv> {
  const { accounts, limiter, cookies } = options;
  const routes = new Hono<WebEnv>();

  routes.post('/login', bodyLimit({ maxSize: 16 * 1024 }), async (c) => {
    const given = credentials(await c.req.json().catch(() => undefined));
    if (!given) return c.json(errorBody('send {"username": …, "password": …} as JSON'), 400);
    const outcome = await limiter.attempt(clientAddress(c, options.trustProxy), () => accounts.authenticate(given.username, given.password));
    if (outcome.status === 'limited') {
      return c.json(errorBody(`too many failed logins from this address; try again in ${outcome.retryAfterSeconds} s`), 429, {
        'Retry-After': String(outcome.retryAfterSeconds),
      });
    }
    // One answer for a wrong name and a wrong password: the page must not reveal who has an account.
    if (outcome.status === 'failed') return c.json(errorBody('wrong user name or password'), 401);
    const role = outcome.value;
    const session = await accounts.openSession(given.username, role);
    setSessionCookie(c, session.token, cookies);
    return c.json(sessionView(session));
  });

  return routes;
}

/** GET /api/session and POST /api/logout, mounted behind the session and CSRF checks. */
export function sessionRoutes(options: Pick<AuthRouteOptions, 'accounts' | 'cookies'>): Hono<WebEnv> {
  const routes = new Hono<WebEnv>();
  routes.get('/session', (c) => c.json(sessionView(c.var.session)));
  routes.post('/logout', async (c) => {
    const token = sessionToken(c);
    if (token !== undefined) await options.accounts.closeSession(token);
    clearSessionCookie(c, options.cookies);
    return c.json({ loggedOut: true });
  });
  return routes;
}
