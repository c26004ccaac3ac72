import { Router } from 'express';
import type { Db } from '../../db/client.js';
import { pingDatabase } from '../../db/health.js';

export function healthRoutes(db: Db): Router {
  const router = Router();
  router.get('/healthz', async (req, res) => {
    try {
      await pingDatabase(db);
      res.json({ status: 'ok', database: 'ok' });
    } catch (err) {
      req.log?.warn({ err }, 'health check: database unreachable');
      res.status(503).json({ status: 'unavailable', database: 'unreachable' });
    }
  });
  return router;
}
