import { Router } from 'express';
import { listDevMail, readDevMail, readDevMailSource } from '../../mail/transport.js';
import { NotFoundError } from '../../shop/errors.js';

/** Splits text into plain parts and http(s) links, so the page can make links clickable while escaping everything. */
export function linkify(text: string): { text: string; href?: string }[] {
  const parts: { text: string; href?: string }[] = [];
  let last = 0;
  for (const m of text.matchAll(/https?:\/\/[^\s<>"]+/g)) {
    if (m.index > last) parts.push({ text: text.slice(last, m.index) });
    parts.push({ text: m[0], href: m[0] });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}

/** The dev mailbox (no SMTP_URL, never in production): the mail the shop "sent", with working links. */
export function devMailRoutes(dir: string): Router {
  const router = Router();

  router.get('/dev/mail', async (_req, res) => {
    res.render('dev/mail-index', { title: 'Dev mailbox', messages: await listDevMail(dir), dir });
  });

  router.get('/dev/mail/:name', async (req, res) => {
    const message = await readDevMail(dir, req.params.name);
    if (!message) throw new NotFoundError('There is no such message in the dev mailbox.');
    res.render('dev/mail-show', { title: message.subject, message, parts: linkify(message.text) });
  });

  router.get('/dev/mail/:name/source', async (req, res) => {
    const source = await readDevMailSource(dir, req.params.name);
    if (!source) throw new NotFoundError('There is no such message in the dev mailbox.');
    res.type('text/plain; charset=utf-8').send(source);
  });

  return router;
}
