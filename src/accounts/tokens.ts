import { createHash, randomBytes } from 'node:crypto';
import type { Tx } from '../shop/events.js';

export type TokenPurpose = 'verify' | 'reset';

export const VERIFY_TOKEN_MINUTES = 48 * 60;
export const RESET_TOKEN_MINUTES = 30;

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new single-use token (256 random bits); only its SHA-256 is stored, so a database leak yields no usable link. */
export async function issueToken(tx: Tx, shopperId: number, purpose: TokenPurpose, minutes: number, now = new Date()): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await tx.shopperToken.create({ data: { shopperId, purpose, tokenHash: hashToken(token), createdAt: now, expiresAt: new Date(now.getTime() + minutes * 60_000) } });
  return token;
}

/** The shopper a token still works for, without using it up (to show a form). */
export async function peekToken(tx: Tx, purpose: TokenPurpose, token: string, now = new Date()): Promise<number | null> {
  if (!TOKEN_PATTERN.test(token)) return null;
  const row = await tx.shopperToken.findFirst({ where: { tokenHash: hashToken(token), purpose, usedAt: null, expiresAt: { gt: now } }, select: { shopperId: true } });
  return row?.shopperId ?? null;
}

/**
 * Uses a token up: a conditional update, so of two concurrent uses exactly one gets the shopper.
 * Null when unknown, used or expired.
 */
export async function consumeToken(tx: Tx, purpose: TokenPurpose, token: string, now = new Date()): Promise<number | null> {
  if (!TOKEN_PATTERN.test(token)) return null;
  const rows = await tx.$queryRaw<{ shopper_id: number }[]>`
    UPDATE shopper_tokens SET used_at = ${now}
    WHERE token_hash = ${hashToken(token)} AND purpose = ${purpose} AND used_at IS NULL AND expires_at > ${now}
    RETURNING shopper_id`;
  return rows[0]?.shopper_id ?? null;
}

/** Ends every other unused token of this purpose (a new password makes older reset links useless). */
export async function revokeTokens(tx: Tx, shopperId: number, purpose: TokenPurpose, now = new Date()): Promise<void> {
  await tx.shopperToken.updateMany({ where: { shopperId, purpose, usedAt: null }, data: { usedAt: now } });
}

/** Deletes tokens that expired more than a day ago; run now and then. */
export async function purgeExpiredTokens(db: Pick<Tx, 'shopperToken'>, now = new Date()): Promise<number> {
  return (await db.shopperToken.deleteMany({ where: { expiresAt: { lt: new Date(now.getTime() - 24 * 60 * 60_000) } } })).count;
}
