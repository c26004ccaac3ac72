import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

export const POSTGRES_USER = 'postgres';

export interface RunAs {
  uid: number;
  gid: number;
}

export type Log = (line: string) => void;

export interface Logs {
  log: Log;
  warn: Log;
}

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

/**
 * The first folder on the way to `target` that the given user may not pass through (no x bit for
 * it), or undefined. ACLs are not consulted.
 */
export async function findBlockingFolder(target: string, user: RunAs): Promise<string | undefined> {
  const folders: string[] = [];
  for (let dir = path.dirname(path.resolve(target)); ; dir = path.dirname(dir)) {
    folders.unshift(dir);
    if (path.dirname(dir) === dir) break;
  }
  for (const dir of folders) {
    const st = await stat(dir);
    const bit = st.uid === user.uid ? 0o100 : st.gid === user.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return dir;
  }
  return undefined;
}

export function describeMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
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
    const child = spawn(cmd, args, { ...runAs, env: buildPostgresEnvironment(runAs), stdio: ['ignore', 'pipe', 'pipe'] });
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

// PostgreSQL and initdb get only what they need: the app's environment holds its secrets
// (SESSION_SECRET, ALIPAY_* keys, DATABASE_URL), which any server-side code could read.
export function buildPostgresEnvironment(runAs: RunAs | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };
  if (process.env.TZ) env.TZ = process.env.TZ;
  if (!runAs && process.env.HOME) env.HOME = process.env.HOME;
  return env;
}

export function hasProcFs(): boolean {
  return existsSync('/proc/self/stat');
}

let clockTicks: number | undefined;

function readClockTicks(): number {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

/** When the process started, in seconds since the epoch (from /proc), or undefined. */
export async function startTimeOf(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command name) may hold spaces and parentheses: count from the last ')'. Field 22 is the start time in clock ticks since boot.
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const bootTime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    if (!Number.isFinite(startTicks) || !bootTime) return undefined;
    return bootTime + startTicks / readClockTicks();
  } catch {
    return undefined;
  }
}
