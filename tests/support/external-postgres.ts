import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildPostgresEnvironment, ensurePostgresUser, freePort, isRoot, type RunAs } from '../../src/db/embedded-postgres/os.js';

/**
 * A PostgreSQL server from the operating system's packages (Debian: `apt-get install postgresql`,
 * binaries in /usr/lib/postgresql/<major>/bin), started on a free port for the tests that need an
 * external server of another major version than the embedded one (tests/integration/scale-out).
 */
export interface ExternalPostgres {
  major: number;
  port: number;
  url(database: string): string;
  /** Stops the server (fast: open connections are cut), as during an outage. */
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

/** The newest installed server binaries, or undefined with the reason. */
export function findSystemPostgres(): { bin: string; major: number } | { missing: string } {
  const root = process.env.PG_SYSTEM_ROOT ?? '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'pg_ctl'))).map(Number) : [];
  if (!majors.length) return { missing: `no PostgreSQL server in ${root}/<major>/bin (apt-get install postgresql)` };
  const major = Math.max(...majors);
  return { bin: path.join(root, String(major), 'bin'), major };
}

function run(cmd: string, args: string[], runAs: RunAs | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...runAs, env: buildPostgresEnvironment(runAs), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}: ${out.trim()}`))));
  });
}

export async function startExternalPostgres(): Promise<ExternalPostgres> {
  const found = findSystemPostgres();
  if ('missing' in found) throw new Error(found.missing);
  const runAs = isRoot() ? ensurePostgresUser() : undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shop-external-pg-'));
  await chmod(dir, 0o755);
  const data = path.join(dir, 'data');
  await mkdir(data, { mode: 0o700 });
  if (runAs) await chown(data, runAs.uid, runAs.gid);
  await run(path.join(found.bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'], runAs);
  const port = await freePort('127.0.0.1');
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    "-c unix_socket_directories=''",
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ');
  const logFile = path.join(dir, 'postgres.log');
  if (runAs) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(logFile, '');
    await chown(logFile, runAs.uid, runAs.gid);
  }
  const pgCtl = (...args: string[]) => run(path.join(found.bin, 'pg_ctl'), ['-D', data, ...args], runAs);
  const start = async () => void (await pgCtl('start', '-w', '-t', '30', '-l', logFile, '-o', options));
  const stop = async () => void (await pgCtl('stop', '-w', '-m', 'fast'));
  await start();
  let running = true;
  return {
    major: found.major,
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    async start() {
      await start();
      running = true;
    },
    async stop() {
      await stop();
      running = false;
    },
    async restart() {
      await stop();
      await start();
    },
    async destroy() {
      if (running) await stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
