import crypto from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Accounts, Role, SessionUser } from '../database/accounts.js';
import { errorBody } from './http-errors.js';

export const SESSION_COOKIE = 'cspine_session';
export const CSRF_HEADER = 'X-CSRF-Token';

/** What the middleware below leaves for the route handlers. */
export interface WebEnv {
  Variables: { session: SessionUser };
}

export interface CookieSettings {
  secureCookies: boolean;
  sessionHours: number;
}

export function setSessionCookie(c: Context, token: string, settings: CookieSettings): void {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Strict',
    path: '/',
    secure: settings.secureCookies,
    maxAge: Math.round(settings.sessionHours * 3600),
  });
}

export function clearSessionCookie(c: Context, settings: CookieSettings): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: settings.secureCookies, httpOnly: true, sameSite: 'Strict' });
}

export function sessionToken(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

/** 401 without a valid session; otherwise the session is in `c.var.session`. */
export function requireSession(accounts: Accounts): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const token = sessionToken(c);
    const session = token === undefined ? undefined : await accounts.session(token);
    if (!session) return c.json(errorBody('sign in first'), 401);
    c.set('session', session);
    await next();
  };
}

/**
 * Writes need the session's CSRF token in a header: a page from another site can make the
 * browser send the cookie (were SameSite ever relaxed) but cannot read the token.
 */
export function requireCsrf(): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const sent = Buffer.from(c.req.header(CSRF_HEADER) ?? '');
      const expected = Buffer.from(c.var.session.csrfToken);
      if (sent.length !== expected.length || !crypto.timingSafeEqual(sent, expected)) {
        return c.json(errorBody(`missing or wrong ${CSRF_HEADER} header (it comes with the session: GET /api/session)`), 403);
      }
    }
    await next();
  };
}

export function requireRole(allowed: (role: Role) => boolean, what: string): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    if (!allowed(c.var.session.role)) return c.json(errorBody(`the ${c.var.session.role} role may not ${what}`), 403);
    await next();
  };
}
