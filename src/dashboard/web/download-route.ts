import fs from 'node:fs';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import type { PackageStore } from '../updates/package-store.js';
import type { Rollouts } from '../updates/rollouts.js';
import { byteRange } from './byte-range.js';
import { errorBody } from './http-errors.js';

/** The token a device found in its install command: `Authorization: Bearer <token>`. */
function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer ([A-Za-z0-9_-]{32,128})$/i.exec(header.trim());
  return match?.[1];
}

/**
 * GET (and HEAD) /updates/:manifestSha256/:file: a stored package's files for the devices of
 * its rollouts, which have no session but the bearer token of their install command. Only the
 * files the package lists (and manifest.json, manifest.sig) are served, by name from that list,
 * so no request path reaches the file system. Files are streamed from disk; `Range` lets a
 * device resume a download cut short (206), and the ETag is the file's SHA-256.
 */
export function downloadRoutes(packages: PackageStore, rollouts: Pick<Rollouts, 'mayDownload'>): Hono {
  const routes = new Hono();
  routes.get('/:manifestSha256/:file{.+}', async (c) => {
    const manifestSha256 = c.req.param('manifestSha256');
    const name = c.req.param('file');
    if (!(await packages.get(manifestSha256))) return c.json(errorBody(`no package ${manifestSha256}`), 404);
    const token = bearerToken(c.req.header('authorization'));
    if (token === undefined || !(await rollouts.mayDownload(manifestSha256, token))) {
      return c.json(errorBody('a download needs the bearer token of an install command for this package, from a rollout not rolled back'), 401, {
        'WWW-Authenticate': 'Bearer realm="cspine-updates"',
      });
    }
    const served = await packages.servedFile(manifestSha256, name);
    const size = served && (await fs.promises.stat(served.path).catch(() => undefined))?.size;
    if (!served || size === undefined) return c.json(errorBody(`package ${manifestSha256} has no file ${name}`), 404);

    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: `"${served.sha256}"`,
      'Cache-Control': 'no-store',
    };
    const range = byteRange(c.req.header('range'), size);
    if (range.kind === 'unsatisfiable') return c.body(null, 416, { ...headers, 'Content-Range': `bytes */${size}` });
    const { start, end } = range.kind === 'partial' ? range : { start: 0, end: size - 1 };
    const status = range.kind === 'partial' ? 206 : 200;
    headers['Content-Length'] = String(end - start + 1);
    if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    if (c.req.method === 'HEAD' || size === 0) return c.body(null, status, headers);
    const stream = Readable.toWeb(fs.createReadStream(served.path, { start, end })) as ReadableStream<Uint8Array>;
    return c.body(stream, status, headers);
  });
  return routes;
}
