import { randomBytes } from 'node:crypto';
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { processAlive, type Log } from './os.js';

// One process at a time creates, recovers or starts the cluster (two `npm start`s, or the app and
// `npm run db:seed`, starting together). A lock left by a killed process is taken over.
export async function lockStartup(lockFile: string, log: Log): Promise<() => Promise<void>> {
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
