import type { Db } from '../db/client.js';
import { Prisma, type OperatorRole } from '../generated/prisma/client.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../shop/errors.js';
import { generatePassword, hashPassword, MIN_PASSWORD_LENGTH, verifyNoPassword, verifyPassword } from './passwords.js';

export type { OperatorRole };
export const OPERATOR_ROLES: readonly OperatorRole[] = ['admin', 'viewer'];
export const FIRST_OPERATOR_EMAIL = 'admin@localhost';

/** Who is signed in to the console, as the rest of the app sees it. */
export interface Operator {
  id: number;
  email: string;
  role: OperatorRole;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,189}$/;

/** Emails are unique case-insensitively: stored and looked up lower-cased. */
export function normalizeEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  if (!EMAIL.test(normalized)) throw new InvalidRequestError(`"${email}" is not an email address.`);
  return normalized;
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new InvalidRequestError(`The password is too short: use at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  if (password.length > 1024) throw new InvalidRequestError('The password is too long (at most 1024 characters).');
}

export function parseRole(role: string): OperatorRole {
  if (!(OPERATOR_ROLES as string[]).includes(role)) throw new InvalidRequestError(`Unknown role "${role}": use admin or viewer.`);
  return role as OperatorRole;
}

export async function addOperator(db: Db, opts: { email: string; password: string; role?: OperatorRole }): Promise<Operator> {
  const email = normalizeEmail(opts.email);
  checkPassword(opts.password);
  try {
    const row = await db.operator.create({ data: { email, passwordHash: await hashPassword(opts.password), role: opts.role ?? 'admin' } });
    return { id: row.id, email: row.email, role: row.role };
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      throw new ConflictError(`An operator ${email} already exists.`);
    }
    throw err;
  }
}

async function updateOperator(db: Db, email: string, data: Prisma.OperatorUpdateManyMutationInput): Promise<void> {
  const normalized = normalizeEmail(email);
  const { count } = await db.operator.updateMany({ where: { email: normalized }, data });
  if (count === 0) throw new NotFoundError(`There is no operator ${normalized}.`);
}

export async function changeOperatorPassword(db: Db, email: string, password: string): Promise<void> {
  checkPassword(password);
  await updateOperator(db, email, { passwordHash: await hashPassword(password) });
}

export function setOperatorDisabled(db: Db, email: string, disabled: boolean): Promise<void> {
  return updateOperator(db, email, { disabled });
}

export function listOperators(db: Db) {
  return db.operator.findMany({
    orderBy: { email: 'asc' },
    select: { email: true, role: true, disabled: true, createdAt: true, lastSignInAt: true },
  });
}

export const SIGN_IN_FAILED = 'Wrong email or password.';

/**
 * The operator with this email and password, or null — the same time spent whether the email is
 * unknown, the password wrong or the operator disabled, so none of them can be told apart.
 */
export async function authenticateOperator(db: Db, email: string, password: string, now = new Date()): Promise<Operator | null> {
  const normalized = email.trim().toLowerCase();
  const row = password.length <= 1024 && normalized.length <= 254 ? await db.operator.findUnique({ where: { email: normalized } }) : null;
  if (!row) {
    await verifyNoPassword(password.slice(0, 1024));
    return null;
  }
  if (!(await verifyPassword(password, row.passwordHash)) || row.disabled) return null;
  await db.operator.update({ where: { id: row.id }, data: { lastSignInAt: now } });
  return { id: row.id, email: row.email, role: row.role };
}

/** The operator as it stands now (a disabled or deleted operator is signed out on the next request). */
export async function findActiveOperator(db: Db, id: number): Promise<Operator | null> {
  const row = await db.operator.findUnique({ where: { id }, select: { id: true, email: true, role: true, disabled: true } });
  return row && !row.disabled ? { id: row.id, email: row.email, role: row.role } : null;
}

/**
 * Zero-config start: when nobody can sign in yet, creates admin@localhost with a generated
 * password and returns it (once). Null when there is already an operator.
 */
export async function createFirstOperator(db: Db): Promise<{ email: string; password: string } | null> {
  if ((await db.operator.count()) > 0) return null;
  const password = generatePassword();
  const passwordHash = await hashPassword(password);
  const inserted = await db.$executeRaw`
    INSERT INTO operators (email, password_hash, role) VALUES (${FIRST_OPERATOR_EMAIL}, ${passwordHash}, 'admin')
    ON CONFLICT (email) DO NOTHING`;
  return inserted === 1 ? { email: FIRST_OPERATOR_EMAIL, password } : null;
}
