import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import pg from 'pg';

export interface AppRoleOptions {
  /** Superuser connection string of a database on the server. */
  superuserUrl: (database: string) => string;
  database: string;
  role: string;
  /** Where the role's password is kept (created once, mode 0600, never overwritten). */
  passwordFile: string;
}

async function rolePassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('base64url');
  try {
    await writeFile(file, password, { mode: 0o600, flag: 'wx' });
    return password;
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim();
    throw err;
  }
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * The shop's database owned by a role that is not a superuser (no COPY … PROGRAM, no reading
 * server files, no other databases): the superuser only creates the role and the database and
 * hands over what a previous version created as the superuser. Returns the role's connection
 * string.
 */
export async function ensureAppDatabase(opts: AppRoleOptions): Promise<string> {
  const { role, database } = opts;
  const password = await rolePassword(opts.passwordFile);
  await withClient(opts.superuserUrl('postgres'), async (c) => {
    const r = c.escapeIdentifier(role);
    await c.query(`
      DO $$ BEGIN
        CREATE ROLE ${r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
      EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    await c.query(`ALTER ROLE ${r} WITH LOGIN NOSUPERUSER PASSWORD ${c.escapeLiteral(password)}`);
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await c.query(`CREATE DATABASE ${c.escapeIdentifier(database)} OWNER ${r}`);
    else await c.query(`ALTER DATABASE ${c.escapeIdentifier(database)} OWNER TO ${r}`);
  });
  await withClient(opts.superuserUrl(database), async (c) => {
    const r = c.escapeIdentifier(role);
    await c.query(`ALTER SCHEMA public OWNER TO ${r}`);
    await c.query(`REVOKE ALL ON SCHEMA public FROM PUBLIC`);
    // Tables, sequences, views and enum types made by earlier versions as the superuser.
    await c.query(`
      DO $$ DECLARE o record; BEGIN
        FOR o IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND pg_get_userbyid(c.relowner) <> ${c.escapeLiteral(role)}
                   AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
        LOOP
          EXECUTE format('ALTER %s public.%I OWNER TO %I',
            CASE o.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, o.relname, ${c.escapeLiteral(role)});
        END LOOP;
        FOR o IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE n.nspname = 'public' AND t.typtype = 'e' AND pg_get_userbyid(t.typowner) <> ${c.escapeLiteral(role)}
        LOOP
          EXECUTE format('ALTER TYPE public.%I OWNER TO %I', o.typname, ${c.escapeLiteral(role)});
        END LOOP;
      END $$`);
  });
  const url = new URL(opts.superuserUrl(database));
  url.username = encodeURIComponent(role);
  url.password = encodeURIComponent(password);
  return url.toString();
}
