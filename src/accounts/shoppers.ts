import type { Db } from '../db/client.js';
import { createRateLimiter, type RateLimit } from '../db/rate-limiter.js';
import { endShopperSessions } from '../db/session-store.js';
import { mergeCarts, type Cart } from '../shop/cart.js';
import { InvalidRequestError, RateLimitedError, ShopError } from '../shop/errors.js';
import { isCommonPassword } from './common-passwords.js';
import { NO_ACCOUNT_EVENTS, type AccountEvents } from './events.js';
import { hashPassword, MIN_PASSWORD_LENGTH, verifyNoPassword, verifyPassword } from './passwords.js';
import { consumeToken, issueToken, peekToken, RESET_TOKEN_MINUTES, revokeTokens, VERIFY_TOKEN_MINUTES } from './tokens.js';

const MINUTE = 60_000;
const MAX_PASSWORD_LENGTH = 200;
const EMAIL_PATTERN = /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export const SHOPPER_LIMITS = {
  signInPerIp: { name: 'shopper-signin-ip', limit: 30, windowMs: 15 * MINUTE },
  /** Failed sign-ins per email, known or not (so the limit itself reveals nothing). */
  signInPerEmail: { name: 'shopper-signin-email', limit: 10, windowMs: 15 * MINUTE },
  signUpPerIp: { name: 'shopper-signup-ip', limit: 10, windowMs: 60 * MINUTE },
  resetPerIp: { name: 'shopper-reset-ip', limit: 10, windowMs: 60 * MINUTE },
  /** Beyond this no more reset emails go to one address (silently: the page must not differ). */
  resetPerEmail: { name: 'shopper-reset-email', limit: 3, windowMs: 60 * MINUTE },
  resendPerShopper: { name: 'shopper-verify-resend', limit: 3, windowMs: 60 * MINUTE },
} satisfies Record<string, RateLimit>;

/** Wrong email or password: one message for both, so it reveals nothing. */
export class InvalidCredentialsError extends ShopError {
  override name = 'InvalidCredentialsError';
  constructor() {
    super('The email or password is not right.');
  }
}

export interface SignedInShopper {
  id: number;
  email: string;
  emailVerified: boolean;
  sessionEpoch: number;
}

export function normalizeEmail(value: unknown): string {
  const email = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (email === '') throw new InvalidRequestError('Enter your email address.');
  if (email.length > 254 || !EMAIL_PATTERN.test(email)) throw new InvalidRequestError('Enter a valid email address, like name@example.com.');
  return email;
}

/** The rules a new password must meet; a clear message for the first it breaks. */
export function checkNewPassword(password: unknown, email?: string): string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH) {
    throw new InvalidRequestError(`Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) throw new InvalidRequestError(`A password can have at most ${MAX_PASSWORD_LENGTH} characters.`);
  if (isCommonPassword(password, email)) throw new InvalidRequestError('This password is too common and easy to guess: choose another one.');
  return password;
}

function presented(s: { id: number; email: string; emailVerifiedAt: Date | null; sessionEpoch: number }): SignedInShopper {
  return { id: s.id, email: s.email, emailVerified: s.emailVerifiedAt !== null, sessionEpoch: s.sessionEpoch };
}

function readCart(value: unknown): Cart {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter(([k, v]) => /^\d{1,10}$/.test(k) && Number.isSafeInteger(v) && (v as number) > 0)) as Cart;
}

export interface ShopperAccountsDeps {
  db: Db;
  events?: AccountEvents;
}

/** Shopper accounts: sign-up, sign-in, verification, password change and reset. */
export function createShopperAccounts(deps: ShopperAccountsDeps) {
  const { db } = deps;
  const events = deps.events ?? NO_ACCOUNT_EVENTS;
  const limiter = createRateLimiter(db);

  async function hitOrRefuse(limit: RateLimit, subject: string, message: string) {
    const state = await limiter.hit(limit, subject);
    if (!state.allowed) throw new RateLimitedError(message, state.retryAfterSeconds);
  }

  return {
    /**
     * Creates an unverified account and emails a verification link; for an email that already has
     * an account, emails its owner instead. Both take the same time and give the same answer.
     */
    async signUp(input: { email: unknown; password: unknown; ip: string }): Promise<{ email: string }> {
      const email = normalizeEmail(input.email);
      const password = checkNewPassword(input.password, email);
      await hitOrRefuse(SHOPPER_LIMITS.signUpPerIp, input.ip, 'Too many sign-ups from your network.');
      const passwordHash = await hashPassword(password);
      await db.$transaction(async (tx) => {
        const created = await tx.$queryRaw<{ id: number }[]>`
          INSERT INTO shoppers (email, password_hash, updated_at) VALUES (${email}, ${passwordHash}, now())
          ON CONFLICT (email) DO NOTHING RETURNING id`;
        if (created[0]) {
          const token = await issueToken(tx, created[0].id, 'verify', VERIFY_TOKEN_MINUTES);
          await events.verificationRequested?.(tx, { shopperId: created[0].id, email, token });
        } else {
          const existing = await tx.shopper.findUniqueOrThrow({ where: { email }, select: { id: true } });
          await events.signUpForExistingAccount?.(tx, { shopperId: existing.id, email });
        }
      });
      return { email };
    },

    /** The shopper for this email and password, or InvalidCredentialsError (same time and message for an unknown email). */
    async signIn(input: { email: unknown; password: unknown; ip: string }): Promise<SignedInShopper> {
      const email = typeof input.email === 'string' ? input.email.trim().toLowerCase().slice(0, 254) : '';
      const password = typeof input.password === 'string' ? input.password.slice(0, MAX_PASSWORD_LENGTH) : '';
      await hitOrRefuse(SHOPPER_LIMITS.signInPerIp, input.ip, 'Too many sign-in attempts from your network.');
      const perEmail = await limiter.check(SHOPPER_LIMITS.signInPerEmail, email);
      if (!perEmail.allowed) throw new RateLimitedError('Too many failed sign-ins for this email.', perEmail.retryAfterSeconds);
      const shopper = email ? await db.shopper.findUnique({ where: { email } }) : null;
      const ok = shopper ? await verifyPassword(password, shopper.passwordHash) : await verifyNoPassword(password);
      if (!ok || !shopper) {
        await limiter.hit(SHOPPER_LIMITS.signInPerEmail, email);
        throw new InvalidCredentialsError();
      }
      return presented(shopper);
    },

    /**
     * The signed-in shopper of a session and the account's cart, or null when the account is gone
     * or its sessions were ended (the epoch moved on).
     */
    async currentShopper(shopperId: number, sessionEpoch: number): Promise<{ shopper: SignedInShopper; cart: Cart } | null> {
      const shopper = await db.shopper.findUnique({ where: { id: shopperId }, select: { id: true, email: true, emailVerifiedAt: true, sessionEpoch: true, cart: true } });
      return shopper && shopper.sessionEpoch === sessionEpoch ? { shopper: presented(shopper), cart: readCart(shopper.cart) } : null;
    },

    /**
     * What signing in brings along from this browser: the guest cart merged into the account's
     * cart (quantities added, capped), and the guest orders placed here attached to the account.
     * Returns the account's cart as it now is.
     */
    async adoptGuestSession(shopperId: number, guest: { cart?: Cart; orders?: string[]; browserRef?: string }): Promise<Cart> {
      return db.$transaction(async (tx) => {
        const [row] = await tx.$queryRaw<{ cart: unknown }[]>`SELECT cart FROM shoppers WHERE id = ${shopperId} FOR UPDATE`;
        const cart = mergeCarts(readCart(row?.cart), readCart(guest.cart ?? {}));
        await tx.shopper.update({ where: { id: shopperId }, data: { cart } });
        const numbers = (guest.orders ?? []).filter((n) => typeof n === 'string').slice(0, 50);
        // Only orders of this browser's session (proof they were placed here), and only unclaimed ones.
        if (numbers.length) await tx.order.updateMany({ where: { outTradeNo: { in: numbers }, shopperId: null }, data: { shopperId } });
        // Orders carry this browser's reference (kept in its session) instead of being listed in it.
        if (guest.browserRef) await tx.order.updateMany({ where: { browserRef: guest.browserRef, shopperId: null }, data: { shopperId } });
        return cart;
      });
    },

    async saveCart(shopperId: number, cart: Cart): Promise<void> {
      await db.shopper.update({ where: { id: shopperId }, data: { cart } });
    },

    async verifyEmail(token: string): Promise<{ email: string }> {
      return db.$transaction(async (tx) => {
        const shopperId = await consumeToken(tx, 'verify', token);
        if (shopperId === null) throw new InvalidRequestError('This confirmation link is not valid: it was used already or has expired. Sign in to get a new one.');
        const shopper = await tx.shopper.update({ where: { id: shopperId }, data: { emailVerifiedAt: new Date() }, select: { email: true, emailVerifiedAt: true } });
        return { email: shopper.email };
      });
    },

    /** Sends a new verification link to a signed-in, unverified shopper. */
    async resendVerification(shopperId: number): Promise<void> {
      await hitOrRefuse(SHOPPER_LIMITS.resendPerShopper, String(shopperId), 'A confirmation email was sent several times already.');
      await db.$transaction(async (tx) => {
        const shopper = await tx.shopper.findUniqueOrThrow({ where: { id: shopperId } });
        if (shopper.emailVerifiedAt) return;
        const token = await issueToken(tx, shopperId, 'verify', VERIFY_TOKEN_MINUTES);
        await events.verificationRequested?.(tx, { shopperId, email: shopper.email, token });
      });
    },

    /** Emails a reset link when the account exists; the caller says "check your mailbox" either way. */
    async requestPasswordReset(input: { email: unknown; ip: string }): Promise<{ email: string }> {
      const email = normalizeEmail(input.email);
      await hitOrRefuse(SHOPPER_LIMITS.resetPerIp, input.ip, 'Too many password reset requests from your network.');
      const shopper = await db.shopper.findUnique({ where: { email }, select: { id: true } });
      if (!shopper || !(await limiter.hit(SHOPPER_LIMITS.resetPerEmail, email)).allowed) return { email };
      await db.$transaction(async (tx) => {
        const token = await issueToken(tx, shopper.id, 'reset', RESET_TOKEN_MINUTES);
        await events.passwordResetRequested?.(tx, { shopperId: shopper.id, email, token });
      });
      return { email };
    },

    /** Whether a reset link still works (to show its form). */
    async checkResetToken(token: string): Promise<void> {
      if ((await peekToken(db, 'reset', token)) === null) throw invalidResetLink();
    },

    /**
     * Sets a new password with a reset link (used up here), ends every session of the account and
     * returns the shopper to sign in this browser. Proves the mailbox, so the email counts as verified.
     */
    async resetPassword(input: { token: string; password: unknown }): Promise<SignedInShopper> {
      const shopperId = await peekToken(db, 'reset', input.token);
      if (shopperId === null) throw invalidResetLink();
      const { email } = await db.shopper.findUniqueOrThrow({ where: { id: shopperId }, select: { email: true } });
      const passwordHash = await hashPassword(checkNewPassword(input.password, email));
      return db.$transaction(async (tx) => {
        if ((await consumeToken(tx, 'reset', input.token)) !== shopperId) throw invalidResetLink();
        await revokeTokens(tx, shopperId, 'reset');
        await tx.shopper.updateMany({ where: { id: shopperId, emailVerifiedAt: null }, data: { emailVerifiedAt: new Date() } });
        const shopper = await tx.shopper.update({ where: { id: shopperId }, data: { passwordHash, sessionEpoch: { increment: 1 } } });
        await endShopperSessions(tx, shopperId);
        return presented(shopper);
      });
    },

    /** Changes the password of a signed-in shopper and ends their other sessions; returns the new session epoch. */
    async changePassword(input: { shopperId: number; current: unknown; next: unknown; keepSessionId: string }): Promise<SignedInShopper> {
      const shopper = await db.shopper.findUniqueOrThrow({ where: { id: input.shopperId } });
      const current = typeof input.current === 'string' ? input.current.slice(0, MAX_PASSWORD_LENGTH) : '';
      if (!(await verifyPassword(current, shopper.passwordHash))) throw new InvalidRequestError('Your current password is not right.');
      const passwordHash = await hashPassword(checkNewPassword(input.next, shopper.email));
      return db.$transaction(async (tx) => {
        const updated = await tx.shopper.update({ where: { id: shopper.id }, data: { passwordHash, sessionEpoch: { increment: 1 } } });
        await revokeTokens(tx, shopper.id, 'reset');
        await endShopperSessions(tx, shopper.id, input.keepSessionId);
        return presented(updated);
      });
    },
  };
}

function invalidResetLink() {
  return new InvalidRequestError('This password reset link is not valid: it was used already or has expired (links work for 30 minutes). Ask for a new one.');
}

export type ShopperAccounts = ReturnType<typeof createShopperAccounts>;
