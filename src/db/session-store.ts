import { Store, type SessionData } from 'express-session';
import { queryRows, type Db } from './client.js';

const DAY = 24 * 60 * 60 * 1000;

// Sessions live in PostgreSQL so several app instances behind a proxy share them.
export class PrismaSessionStore extends Store {
  constructor(private readonly db: Db) {
    super();
  }

  override get(sid: string, cb: (err: unknown, session?: SessionData | null) => void): void {
    queryRows<{ data: SessionData }>(this.db, 'SELECT data FROM sessions WHERE sid = $1 AND expires_at > now()', [sid], 'session_get')
      .then((rows) => cb(null, rows[0]?.data ?? null), cb);
  }

  override set(sid: string, data: SessionData, cb?: (err?: unknown) => void): void {
    const expiresAt = data.cookie?.expires ? new Date(data.cookie.expires) : new Date(Date.now() + DAY);
    const json = JSON.stringify(data);
    queryRows(
      this.db,
      `INSERT INTO sessions (sid, data, expires_at) VALUES ($1, $2::jsonb, $3)
       ON CONFLICT (sid) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at`,
      [sid, json, expiresAt],
      'session_set',
    ).then(() => cb?.(), (err) => cb?.(err));
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.db.session.deleteMany({ where: { sid } }).then(() => cb?.(), (err) => cb?.(err));
  }
}

/** Deletes expired sessions; run now and then. */
export async function purgeExpiredSessions(db: Db): Promise<number> {
  return (await db.session.deleteMany({ where: { expiresAt: { lt: new Date() } } })).count;
}

/**
 * Ends every stored session signed in as this shopper (but `exceptSid`). The shopper's session
 * epoch is raised in the same transaction, so a session written back by a request in flight is
 * refused anyway.
 */
export async function endShopperSessions(db: Pick<Db, '$executeRaw'>, shopperId: number, exceptSid?: string): Promise<number> {
  return db.$executeRaw`DELETE FROM sessions WHERE data->>'shopperId' = ${String(shopperId)} AND sid <> ${exceptSid ?? ''}`;
}
