import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Router } from 'express';
import { Router as createRouter } from 'express';
import type pg from 'pg';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the app reports to Prometheus; one registry per app (tests build many). */
export interface Metrics {
  registry: Registry;
  /** Times every request; the label is the matched route pattern, never the raw URL. */
  requests: RequestHandler;
  notification(outcome: string): void;
  orderTransition(status: string, count?: number): void;
  alipayCall(method: string, outcome: string, seconds: number): void;
  jobRun(job: string, outcome: 'ok' | 'failed' | 'skipped', seconds: number): void;
  /** Reports a pg pool's connections in use, idle and waiting at every scrape. */
  watchPool(pool: pg.Pool): void;
}

export function createMetrics(opts: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });

  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route pattern and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const notifications = new Counter({
    name: 'alipay_notifications_total',
    help: 'Alipay notifications received, by outcome (applied, duplicate, acknowledged, rejected, error)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const transitions = new Counter({
    name: 'order_transitions_total',
    help: 'Orders that changed status, by the status they reached',
    labelNames: ['status'],
    registers: [registry],
  });
  const alipayCalls = new Histogram({
    name: 'alipay_api_call_duration_seconds',
    help: 'Alipay OpenAPI calls by method and outcome (ok, http_<status>, timeout, error), with latency',
    labelNames: ['method', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [registry],
  });
  const jobRuns = new Histogram({
    name: 'job_run_duration_seconds',
    help: 'Periodic job runs by job and outcome (ok, failed, skipped: another instance had the period)',
    labelNames: ['job', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
    registers: [registry],
  });
  const pools: pg.Pool[] = [];
  new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by state (in_use, idle, waiting: requests queued for a connection)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      let total = 0;
      let idle = 0;
      let waiting = 0;
      for (const pool of pools) {
        total += pool.totalCount;
        idle += pool.idleCount;
        waiting += pool.waitingCount;
      }
      this.set({ state: 'in_use' }, total - idle);
      this.set({ state: 'idle' }, idle);
      this.set({ state: 'waiting' }, waiting);
    },
  });

  const requests: RequestHandler = (req, res, next) => {
    const end = httpDuration.startTimer();
    res.once('finish', () => {
      const route = req.route?.path;
      const label = typeof route === 'string' ? `${req.baseUrl}${route}` : req.path.startsWith('/static/') ? '/static' : 'unmatched';
      end({ method: req.method, route: label, status: String(res.statusCode) });
    });
    next();
  };

  return {
    registry,
    requests,
    notification: (outcome) => notifications.inc({ outcome }),
    orderTransition: (status, count = 1) => {
      if (count > 0) transitions.inc({ status }, count);
    },
    alipayCall: (method, outcome, seconds) => alipayCalls.observe({ method, outcome }, seconds),
    jobRun: (job, outcome, seconds) => jobRuns.observe({ job, outcome }, seconds),
    watchPool: (pool) => void pools.push(pool),
  };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * GET /metrics. With `token`, only for `Authorization: Bearer <token>` (the main port); without,
 * open (the separate METRICS_PORT listener, which is not exposed to the public).
 */
export function metricsRoutes(metrics: Metrics, opts: { token?: string }): Router {
  const router = createRouter();
  router.get('/metrics', async (req, res) => {
    if (opts.token !== undefined) {
      const given = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
      if (!given || !sameSecret(given, opts.token)) {
        res.status(401).set('WWW-Authenticate', 'Bearer').type('text/plain').send('metrics need the METRICS_TOKEN bearer token\n');
        return;
      }
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return router;
}

