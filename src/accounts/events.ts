import type { Tx } from '../shop/events.js';

export interface VerificationEvent {
  shopperId: number;
  email: string;
  /** The raw single-use token for the link (only its hash is stored). */
  token: string;
}

/**
 * What the accounts domain announces inside the transaction that made it true, so the mail
 * outbox writes its message in the same commit; accounts/ imports no subscriber.
 */
export interface AccountEvents {
  verificationRequested?(tx: Tx, event: VerificationEvent): Promise<void>;
  passwordResetRequested?(tx: Tx, event: VerificationEvent): Promise<void>;
  /** Someone signed up with an email that already has an account: tell its owner, not the visitor. */
  signUpForExistingAccount?(tx: Tx, event: { shopperId: number; email: string }): Promise<void>;
}

export const NO_ACCOUNT_EVENTS: AccountEvents = {};
