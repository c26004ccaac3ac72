import { Router } from 'express';
import type { Db } from '../db/client.js';
import { pingDatabase } from '../db/health.js';
import { readMigrations } from '../db/migrate.js';
import { errorText } from '../lib/error-text.js';

export interface ReadinessReport {
  ready: boolean;
  database: 'ok' | 'unreachable';
  migrations: 'applied' | 'pending' | 'unknown';
  shuttingDown: boolean;
  pending?: string[];
}

export interface Readiness {
  /** From now on /readyz fails, so load balancers stop sending new requests. */
  markShuttingDown(): void;
  readonly shuttingDown: boolean;
  check(): Promise<ReadinessReport>;
}

/** Ready = the database answers, every migration in prisma/migrations is applied, and we are not stopping. */
export function createReadiness(db: Db): Readiness {
  let shuttingDown = false;
  // Migration files do not change while the process runs: once all are applied, stay so.
  let migrated = false;

  async function pendingMigrations(): Promise<string[]> {
    const files = await readMigrations();
    const rows = await db.$queryRaw<{ migration_name: string }[]>`
      SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
    const done = new Set(rows.map((r) => r.migration_name));
    return files.map((f) => f.name).filter((name) => !done.has(name));
  }

  return {
    markShuttingDown() {
      shuttingDown = true;
    },
    get shuttingDown() {
      return shuttingDown;
    },
    async check() {
      const report: ReadinessReport = { ready: false, database: 'unreachable', migrations: 'unknown', shuttingDown };
      try {
        await pingDatabase(db);
        report.database = 'ok';
        if (!migrated) {
          const pending = await pendingMigrations();
          migrated = pending.length === 0;
          if (!migrated) report.pending = pending;
        }
        report.migrations = migrated ? 'applied' : 'pending';
      } catch {
        // reported as database unreachable / migrations unknown
      }
      report.ready = report.database === 'ok' && report.migrations === 'applied' && !shuttingDown;
      return report;
    },
  };
}

export function readinessRoutes(readiness: Readiness): Router {
  const router = Router();
  router.get('/readyz', async (req, res) => {
    const report = await readiness.check();
    if (!report.ready) req.log?.warn({ readiness: report }, 'not ready');
    res.status(report.ready ? 200 : 503).set('Cache-Control', 'no-store').json({ status: report.ready ? 'ready' : 'not ready', ...report });
  });
  return router;
}

/** What the process answers while it waits for its database: alive, not ready, try again later. */
export function startingHandler(state: { lastError?: unknown }) {
  return (req: { url?: string }, res: import('node:http').ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const body = (status: string) => JSON.stringify({ status, database: 'unreachable', error: state.lastError ? errorText(state.lastError) : undefined });
    res.setHeader('Cache-Control', 'no-store');
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(body('starting'));
    } else if (path === '/readyz') {
      res.writeHead(503, { 'Content-Type': 'application/json' }).end(body('not ready'));
    } else {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5' }).end('The shop is starting (waiting for its database). Please try again in a moment.\n');
    }
  };
}
