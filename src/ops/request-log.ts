import type { Express, RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import { requestId } from './request-id.js';

declare module 'http' {
  interface IncomingMessage {
    /** The request's id (X-Request-Id, src/ops/request-id.ts). */
    id: string;
    /** The app's logger with this request's id (reqId) on every line. */
    log: Logger;
  }
}

const LOGGER = Symbol('requestLogger');
const ID = Symbol('requestId');

/**
 * One line per answered request ("request completed", or "request errored" at error level for a
 * 5xx, "request aborted" when the client left first) with the request id, method, URL (through
 * `redactUrl`), status and time; and `req.log`, the logger with `reqId` bound, made only when a
 * route logs something — the same lines pino-http wrote, without its per-request child loggers.
 */
export function requestLogging(app: Express, logger: Logger, opts: { ignore: (url: string) => boolean; redactUrl: (url: string) => string }): RequestHandler {
  Object.defineProperties(app.request, {
    id: {
      configurable: true,
      get(this: Record<symbol, string>) {
        return this[ID];
      },
      set(this: Record<symbol, string>, value: string) {
        this[ID] = value;
      },
    },
    log: {
      configurable: true,
      get(this: Record<symbol, unknown>) {
        return (this[LOGGER] ??= logger.child({ reqId: this[ID] }));
      },
      set(this: Record<symbol, unknown>, value: unknown) {
        this[LOGGER] = value;
      },
    },
  });
  return (req, res, next) => {
    const id = requestId(req, res);
    req.id = id;
    const url = req.url;
    if (!opts.ignore(url)) {
      const start = performance.now();
      res.once('close', () => {
        const responseTime = Math.round(performance.now() - start);
        const line = { reqId: id, req: { method: req.method, url: opts.redactUrl(url) }, res: { statusCode: res.statusCode }, responseTime };
        if (!res.writableFinished) logger.warn(line, 'request aborted');
        else if (res.statusCode >= 500) logger.error({ ...line, err: { message: `failed with status code ${res.statusCode}` } }, 'request errored');
        else logger.info(line, 'request completed');
      });
    }
    next();
  };
}
