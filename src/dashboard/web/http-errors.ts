import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from '../../logger.js';

/** Every API error has one shape, `{"error": "what went wrong"}`, whatever its status. */
export function errorBody(message: string): { error: string } {
  return { error: message };
}

export function badRequest(message: string): HTTPException {
  return new HTTPException(400, { message });
}

/**
 * Expected refusals (HTTPException) answer with their status and message; anything else is
 * logged and answered without its details, which may name tables or servers.
 */
export function errorHandler(logger: Logger) {
  return (error: Error, c: Context): Response => {
    if (error instanceof HTTPException) {
      const response = error.getResponse();
      return c.json(errorBody(error.message || response.statusText), error.status as ContentfulStatusCode, Object.fromEntries(response.headers));
    }
    logger.error({ err: error, method: c.req.method, path: c.req.path }, 'dashboard request failed');
    return c.json(errorBody('the dashboard could not answer; see its log'), 500);
  };
}
