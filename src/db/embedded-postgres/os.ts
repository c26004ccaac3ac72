import { execFileSync, spawn } from 'node:child_process';
import { chmod, readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

export const POSTGRES_USER = 'postgres';

export interface RunAs {
  uid: number;
  gid: number;
}

export type Log = (line: string) => void;

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

// PostgreSQL refuses to run as root: as root, run it as the `postgres` system user (created if
// missing), which must own the cluster and be able to reach it and the binaries.
export function ensurePostgresUser(): RunAs {
  const lookup = () => ({
    uid: Number(execFileSync('id', ['-u', POSTGRES_USER]).toString().trim()),
    gid: Number(execFileSync('id', ['-g', POSTGRES_USER]).toString().trim()),
  });
  try {
    return lookup();
  } catch {
    try {
      execFileSync('groupadd', ['--system', POSTGRES_USER], { stdio: 'ignore' });
    } catch {
      // the group may exist without the user
    }
    execFileSync('useradd', ['--system', '-g', POSTGRES_USER, '--no-create-home', POSTGRES_USER], { stdio: 'ignore' });
    return lookup();
  }
}

// Let `postgres` traverse (x only, not list) every parent folder of `target`.
export async function ensureTraversable(target: string, log: Log): Promise<void> {
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

/** A port nobody listens on now, probed on `host` (all interfaces when omitted). */
export function freePort(host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !processAlive(pid);
}

/** The process's arguments; undefined when they cannot be read (no /proc, as on macOS, or the process is gone). */
export async function commandLineOf(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const args = raw.split('\0');
    if (args.at(-1) === '') args.pop();
    return args;
  } catch {
    return undefined;
  }
}

export function runCommand(cmd: string, args: string[], runAs: RunAs | undefined, log: Log): Promise<void> {
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
