import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres/index.js';
import { lockStartup } from '../../src/db/embedded-postgres/lock.js';
import { PROJECT_ROOT } from '../../src/paths.js';

const slowRemovals = vi.hoisted(() => new Set<string>());
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const rm: typeof actual.rm = async (target, options) => {
    if (slowRemovals.delete(String(target))) await new Promise((r) => setTimeout(r, 100));
    return actual.rm(target, options);
  };
  return { ...actual, rm, default: { ...actual, rm } };
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'embedded-pg-'));
  await chmod(dir, 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function roundTrip(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query('SELECT 41 + 1 AS answer');
  await client.end();
  return rows[0].answer;
}

function alive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('embedded PostgreSQL', () => {
  it('comes up again after its owner was killed with SIGKILL (orphaned server, stale postmaster.pid)', async () => {
    const cluster = path.join(dir, 'pg1');
    const script = path.join(dir, 'owner.mts');
    await writeFile(
      script,
      `import { startEmbeddedPostgres } from ${JSON.stringify(path.join(PROJECT_ROOT, 'src/db/embedded-postgres/index.ts'))};\n` +
        `const s = await startEmbeddedPostgres({ dir: ${JSON.stringify(cluster)} });\nconsole.log('READY', s.port);\nsetInterval(() => {}, 1000);\n`,
    );
    const owner = spawn(process.execPath, ['--import', 'tsx', script], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      owner.stdout.on('data', (d: Buffer) => d.toString().includes('READY') && resolve());
      owner.on('exit', (code) => reject(new Error(`owner exited ${code}`)));
    });
    owner.kill('SIGKILL');
    await new Promise((r) => owner.once('exit', r));
    const { readFile } = await import('node:fs/promises');
    const orphan = Number((await readFile(path.join(cluster, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(alive(orphan)).toBe(true);

    const server = await startEmbeddedPostgres({ dir: cluster });
    try {
      expect(alive(orphan)).toBe(false);
      expect(await roundTrip(server.url('postgres'))).toBe(42);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('ignores a postmaster.pid naming a dead process, and keeps its data', async () => {
    const cluster = path.join(dir, 'pg2');
    const first = await startEmbeddedPostgres({ dir: cluster });
    await first.ensureDatabase('kept');
    await first.stop();
    await writeFile(path.join(cluster, 'postmaster.pid'), '999999\n');
    const second = await startEmbeddedPostgres({ dir: cluster });
    try {
      expect(await roundTrip(second.url('kept'))).toBe(42);
    } finally {
      await second.stop();
    }
  }, 60_000);

  it('does not need its previous port: another program may hold it', async () => {
    const cluster = path.join(dir, 'pg3');
    const first = await startEmbeddedPostgres({ dir: cluster });
    const port = first.port;
    await first.stop();
    const squatter = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    try {
      const second = await startEmbeddedPostgres({ dir: cluster });
      expect(second.port).not.toBe(port);
      expect(await roundTrip(second.url('postgres'))).toBe(42);
      await second.stop();
    } finally {
      squatter.close();
    }
  }, 60_000);

  it('never deletes a cluster whose password file went missing: it says what to do', async () => {
    const cluster = path.join(dir, 'pg4');
    const first = await startEmbeddedPostgres({ dir: cluster });
    await first.ensureDatabase('precious');
    await first.stop();
    await rm(`${cluster}.password`);
    await expect(startEmbeddedPostgres({ dir: cluster })).rejects.toThrow(/password file .* is missing/);
    const { existsSync } = await import('node:fs');
    expect(existsSync(path.join(cluster, 'PG_VERSION'))).toBe(true);
  }, 60_000);

  it('refuses to turn a folder with other files into a cluster', async () => {
    const foreign = path.join(dir, 'not-a-cluster');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(foreign);
    await writeFile(path.join(foreign, 'notes.txt'), 'mine');
    await expect(startEmbeddedPostgres({ dir: foreign })).rejects.toThrow(/not a PostgreSQL cluster/);
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(path.join(foreign, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('lets two processes starting at once share one server', async () => {
    const cluster = path.join(dir, 'pg5');
    const [a, b] = await Promise.all([startEmbeddedPostgres({ dir: cluster }), startEmbeddedPostgres({ dir: cluster })]);
    try {
      expect(a.port).toBe(b.port);
      expect([a.attached, b.attached].sort()).toEqual([false, true]);
      expect(await roundTrip(a.url('postgres'))).toBe(42);
      expect(await roundTrip(b.url('postgres'))).toBe(42);
    } finally {
      await b.stop();
      await a.stop();
    }
  }, 60_000);
});

describe('embedded PostgreSQL without collateral damage', () => {
  const isRoot = process.getuid?.() === 0;
  const hasProc = existsSync('/proc/self/stat');

  // A long-running node whose command line reads `…/postgres <args>`, like a postmaster's.
  async function spawnDecoy(args: string[]): Promise<ChildProcess> {
    const bin = path.join(dir, 'decoy', 'postgres');
    if (!existsSync(bin)) {
      await mkdir(path.dirname(bin), { recursive: true });
      await symlink(process.execPath, bin);
    }
    const child = spawn(bin, ['-e', 'setInterval(() => {}, 1000)', '--', ...args], { stdio: 'ignore' });
    await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    return child;
  }

  async function createCluster(name: string): Promise<string> {
    const cluster = path.join(dir, name);
    const server = await startEmbeddedPostgres({ dir: cluster });
    await server.stop();
    return cluster;
  }

  it.runIf(hasProc)('leaves alone a live process named in postmaster.pid that runs postgres for another folder', async () => {
    const cluster = await createCluster('guard1');
    const decoy = await spawnDecoy(['-D', path.join(dir, 'some-other-cluster')]);
    try {
      await writeFile(path.join(cluster, 'postmaster.pid'), `${decoy.pid}\n${cluster}\n${Math.floor(Date.now() / 1000)}\n`);
      const server = await startEmbeddedPostgres({ dir: cluster });
      await server.stop();
      expect(alive(decoy.pid!)).toBe(true);
    } finally {
      decoy.kill('SIGKILL');
    }
  }, 60_000);

  it.runIf(hasProc)('refuses to signal a postgres -D <this cluster> that did not start when postmaster.pid says', async () => {
    const cluster = await createCluster('guard2');
    const decoy = await spawnDecoy(['-D', cluster]);
    try {
      await writeFile(path.join(cluster, 'postmaster.pid'), `${decoy.pid}\n${cluster}\n${Math.floor(Date.now() / 1000) - 86_400}\n`);
      await expect(startEmbeddedPostgres({ dir: cluster })).rejects.toThrow(/did not start when .* stop it by hand \(kill -INT \d+\)/);
      expect(alive(decoy.pid!)).toBe(true);
    } finally {
      decoy.kill('SIGKILL');
    }
  }, 60_000);

  it.runIf(hasProc)("starts PostgreSQL without the app's secrets in its environment", async () => {
    const secrets = { SESSION_SECRET: 'secret-session-value', ALIPAY_APP_PRIVATE_KEY: 'secret-alipay-key', DATABASE_URL: 'postgres://secret@db/x' };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    let server;
    try {
      server = await startEmbeddedPostgres({ dir: path.join(dir, 'clean-env') });
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    try {
      const pid = Number((await readFile(path.join(dir, 'clean-env', 'postmaster.pid'), 'utf8')).split('\n')[0]);
      const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
      expect(environ.some((e) => e.startsWith('PATH='))).toBe(true);
      expect(environ.filter((e) => /SESSION_SECRET|ALIPAY_|DATABASE_URL|secret/.test(e))).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('takes over a stale startup lock in one step: never two holders at once', async () => {
    const lockFile = path.join(dir, 'race.lock');
    await writeFile(lockFile, '999999');
    // Whoever first removes the stale lock is held up, as a busy machine may do.
    slowRemovals.add(lockFile);
    let active = 0;
    let most = 0;
    await Promise.all(
      [0, 1].map(async () => {
        const release = await lockStartup(lockFile, () => {});
        most = Math.max(most, ++active);
        await new Promise((r) => setTimeout(r, 300));
        active--;
        await release();
      }),
    );
    expect(most).toBe(1);
  }, 60_000);

  it('never deletes a half-initialised cluster that a live process is creating', async () => {
    const cluster = path.join(dir, 'half');
    await mkdir(cluster);
    await writeFile(path.join(cluster, 'PG_VERSION.partial'), '18');
    const creator = await spawnDecoy([]);
    try {
      await writeFile(`${cluster}.initialising`, String(creator.pid));
      await expect(startEmbeddedPostgres({ dir: cluster })).rejects.toThrow(/Process \d+ is creating the PostgreSQL cluster/);
      expect(existsSync(path.join(cluster, 'PG_VERSION.partial'))).toBe(true);
    } finally {
      creator.kill('SIGKILL');
    }
  }, 60_000);

  it('keeps an existing password file when it creates the cluster', async () => {
    const cluster = path.join(dir, 'kept-password');
    await writeFile(`${cluster}.password`, 'kept-password-value', { mode: 0o600 });
    const server = await startEmbeddedPostgres({ dir: cluster });
    try {
      expect(await readFile(`${cluster}.password`, 'utf8')).toBe('kept-password-value');
      expect(await roundTrip(server.url('postgres'))).toBe(42);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it.runIf(isRoot)('as root, refuses a cluster the postgres user cannot reach, naming the folder, and changes no permission', async () => {
    const locked = await mkdtemp(path.join(os.tmpdir(), 'embedded-pg-locked-'));
    try {
      await chmod(locked, 0o700);
      await expect(startEmbeddedPostgres({ dir: path.join(locked, 'data', 'postgres') })).rejects.toThrow(
        new RegExp(`the folder ${locked.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(mode 0700`),
      );
      expect((await stat(locked)).mode & 0o777).toBe(0o700);
    } finally {
      await rm(locked, { recursive: true, force: true });
    }
  }, 60_000);
});
