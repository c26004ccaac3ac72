import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const ACCEPTABLE = /^[\w.:@/+=-]{1,128}$/;

/**
 * The request's id: the proxy's `X-Request-Id` when it looks like one (so one id follows a
 * request through nginx and the app), else a new UUID; always returned in `X-Request-Id`.
 */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && ACCEPTABLE.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}
