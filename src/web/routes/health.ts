import { Router } from 'express';
import type { Db } from '../../db/client.js';

export function healthRoutes(db: Db): Router {
  const router = Router();
  router.get('/healthz', async (req, res) => {
    try {
      await db.$queryRaw`SELECT 1`;
      res.json({ status: 'ok', database: 'ok' });
    } catch (err) {
      req.log?.warn({ err }, 'health check: database unreachable');
      res.status(503).json({ status: 'unavailable', database: 'unreachable' });
    }
  });
  return router;
}
