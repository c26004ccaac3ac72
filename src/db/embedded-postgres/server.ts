import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import pg from 'pg';
import type { Cluster } from './cluster.js';
import { freePort, POSTGRES_USER, buildPostgresEnvironment } from './os.js';

export interface EmbeddedPostgres {
  readonly port: number;
  /** True when another live process of ours runs this cluster and we only connected to it. */
  readonly attached: boolean;
  /** When attached to a server another process started: that process (it stops the server when it stops). */
  readonly ownerPid?: number;
  /** Connection string for a database on this server. */
  url(database: string): string;
  ensureDatabase(database: string): Promise<void>;
  stop(): Promise<void>;
}

// Servers this process started, by cluster folder. (An owner file naming our own pid is from a
// killed predecessor that had the same pid, as happens in containers.)
const startedHere = new Map<string, number>();

export function findPortStartedHere(cluster: Cluster): number | undefined {
  return startedHere.get(cluster.dir);
}

function spawnServer(cluster: Cluster, port: number): Promise<ChildProcess> {
  const args = ['-D', cluster.dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
  for (const [k, v] of Object.entries(cluster.settings)) args.push('-c', `${k}=${v}`);
  return new Promise((resolve, reject) => {
    // Own process group: a terminal's Ctrl-C reaches the app, which stops the server after in-flight work.
    const child = spawn(cluster.bins.postgres, args, {
      ...cluster.runAs,
      detached: true,
      env: buildPostgresEnvironment(cluster.runAs),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let output = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`PostgreSQL did not start within 30 s: ${output.trim()}`));
    }, 30_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      for (const line of text.split('\n')) if (line.trim()) cluster.log(line);
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

export async function launchServer(cluster: Cluster, password: string): Promise<EmbeddedPostgres> {
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; !child; attempt++) {
    port = await freePort('127.0.0.1');
    try {
      child = await spawnServer(cluster, port);
    } catch (err) {
      // Someone took the port between our probe and postgres binding it: try another.
      if (attempt >= 3 || !String(err).includes('could not bind')) throw err;
    }
  }
  const server = child;
  await writeFile(cluster.ownerFile, `${process.pid}\n${port}\n`);
  startedHere.set(cluster.dir, port);
  // If this process dies without stopping us, don't leave the server running.
  const onExit = () => {
    if (server.exitCode === null) server.kill('SIGINT');
  };
  process.on('exit', onExit);

  return connectTo(port, password, false, async () => {
    process.off('exit', onExit);
    startedHere.delete(cluster.dir);
    await rm(cluster.ownerFile, { force: true });
    if (server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    server.kill('SIGINT');
    const timeout = setTimeout(() => server.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timeout);
  });
}

export function connectTo(port: number, password: string, attached: boolean, stop: () => Promise<void>, ownerPid?: number): EmbeddedPostgres {
  const url = (database: string) =>
    `postgres://${POSTGRES_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    port,
    attached,
    ...(ownerPid === undefined ? {} : { ownerPid }),
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
