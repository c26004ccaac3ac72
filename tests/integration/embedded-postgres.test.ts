import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres/index.js';
import { PROJECT_ROOT } from '../../src/paths.js';

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
