import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { mayAcknowledge } from '../database/accounts.js';
import { parseCursor, type DashboardQueries } from '../database/queries.js';
import { requireRole, type WebEnv } from './auth.js';
import { CSV_HEADER, csvLine, resultCsvLine } from './csv.js';
import { errorBody } from './http-errors.js';
import { resultFilter, resultId } from './query-params.js';

const LIST_LIMITS = { default: 100, max: 1000 };
const CSV_LIMITS = { default: 10_000, max: 100_000 };
const CSV_PAGE = 1000;

/** GET /api/devices, GET /api/results, GET /api/results.csv, GET /api/results/:id, POST /api/results/:id/ack. */
export function resultsRoutes(queries: DashboardQueries): Hono<WebEnv> {
  const routes = new Hono<WebEnv>();

  routes.get('/devices', async (c) => c.json({ devices: await queries.fleet() }));

  routes.get('/results', async (c) => c.json(await queries.results(resultFilter(c.req.query(), LIST_LIMITS))));

  routes.get('/results.csv', (c) => {
    const filter = resultFilter(c.req.query(), CSV_LIMITS);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');
    c.header('Content-Type', 'text/csv; charset=utf-8');
    c.header('Content-Disposition', `attachment; filename="cspine-results-${stamp}.csv"`);
    // Paged by keyset, so a large export holds one page in memory at a time.
    return stream(c, async (out) => {
      await out.write(csvLine(CSV_HEADER));
      let remaining = filter.limit;
      let before = filter.before;
      while (remaining > 0 && !out.aborted) {
        const page = await queries.results({ ...filter, limit: Math.min(CSV_PAGE, remaining), ...(before ? { before } : {}) });
        await out.write(page.results.map(resultCsvLine).join(''));
        remaining -= page.results.length;
        before = page.nextCursor === null ? undefined : parseCursor(page.nextCursor);
        if (!before) break;
      }
    });
  });

  routes.get('/results/:id', async (c) => {
    const result = await queries.result(resultId(c.req.param('id')));
    return result ? c.json(result) : c.json(errorBody(`no result ${c.req.param('id')}`), 404);
  });

  routes.post('/results/:id/ack', requireRole(mayAcknowledge, 'acknowledge results'), async (c) => {
    const id = resultId(c.req.param('id'));
    const outcome = await queries.acknowledge(id, c.var.session.user);
    switch (outcome.status) {
      case 'acknowledged':
        return c.json({ ...outcome.result.acknowledged, already: outcome.already, result: outcome.result });
      case 'not-found':
        return c.json(errorBody(`no result ${id}`), 404);
      case 'not-red':
        return c.json(errorBody(`only RED results are acknowledged; this one is ${outcome.level}`), 409);
    }
  });

  return routes;
}
