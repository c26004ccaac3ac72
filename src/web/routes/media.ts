import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { IMMUTABLE, MEDIA_KEY, type MediaStore } from '../../media/store.js';
import { NotFoundError } from '../../shop/errors.js';

/** Serves media objects by key from the configured store (the local disk, or S3 streamed through). */
export function mediaRoutes(store: MediaStore): Router {
  const router = Router();
  router.get('/media/:key', async (req, res) => {
    const key = req.params.key;
    const object = MEDIA_KEY.test(key) ? await store.get(key) : null;
    if (!object) throw new NotFoundError('There is no such image.');
    res.set({ 'Content-Type': object.contentType, 'Cache-Control': IMMUTABLE });
    if (object.size !== undefined) res.set('Content-Length', String(object.size));
    if (req.method === 'HEAD') {
      object.body.destroy();
      return res.end();
    }
    await pipeline(object.body, res);
  });
  return router;
}
