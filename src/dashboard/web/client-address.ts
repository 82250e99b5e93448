import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

/**
 * The client's address for the login limit. Behind a trusted reverse proxy it is the last
 * X-Forwarded-For entry, the one that proxy appended: entries before it come from the client
 * and can be forged.
 */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for');
    const last = forwarded?.split(',').pop()?.trim();
    if (last) return last;
  }
  return getConnInfo(c).remote.address ?? 'unknown';
}
