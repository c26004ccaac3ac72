import type { Request } from 'express';

/** The client asked for JSON (Accept) rather than a page. */
export function wantsJson(req: Request): boolean {
  return req.accepts(['html', 'json']) === 'json';
}
