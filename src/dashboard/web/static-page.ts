import fs from 'node:fs/promises';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';

/** The page's files, beside src/ and dist/ alike. */
export const ASSETS_DIR = new URL('../../../assets/dashboard/', import.meta.url);

/** The only files served: a fixed list, so no request path ever reaches the file system. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

export type PageFiles = Map<string, { body: string; type: string }>;

/** Read once at start: a missing file stops the dashboard at start, not at the first visit. */
export async function readPageFiles(dir: URL = ASSETS_DIR): Promise<PageFiles> {
  const files: PageFiles = new Map();
  for (const [path, { file, type }] of Object.entries(FILES)) files.set(path, { body: await fs.readFile(new URL(file, dir), 'utf8'), type });
  return files;
}

/**
 * Security headers for every answer. The policy lets the page run only its own script and
 * style, talk only to this origin, and not be framed; an injected script tag does not run.
 */
export function pageSecurityHeaders() {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    referrerPolicy: 'no-referrer',
    // The dashboard is plain HTTP on loopback behind a TLS proxy: HSTS is the proxy's business.
    strictTransportSecurity: false,
  });
}

export function pageRoutes(files: PageFiles): Hono {
  const routes = new Hono();
  for (const [path, { body, type }] of files) {
    routes.get(path, (c) => c.body(body, 200, { 'Content-Type': type, 'Cache-Control': 'no-cache' }));
  }
  return routes;
}
