import { randomBytes } from 'node:crypto';
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { processAlive, type Log } from './os.js';

interface Holder {
  pid: number;
  token: string;
}

// Tokens of this process's lock attempts and locks: a lock naming our pid but another token was
// left by a killed predecessor that had the same pid (as happens in containers).
const ownTokens = new Set<string>();

async function readHolder(lockFile: string): Promise<Holder | undefined> {
  const content = await readFile(lockFile, 'utf8').catch(() => undefined);
  if (content === undefined) return undefined;
  const [pid, token] = content.split('\n');
  // A lock written before tokens existed holds only the pid.
  return { pid: Number(pid), token: token || `pid${Number(pid)}` };
}

// One process at a time creates, recovers or starts the cluster (two `npm start`s, or the app and
// `npm run db:seed`, starting together). A lock left by a killed process is taken over.
export async function lockStartup(lockFile: string, log: Log): Promise<() => Promise<void>> {
  const token = randomBytes(8).toString('hex');
  ownTokens.add(token);
  try {
    return await acquire(lockFile, token, log);
  } catch (err) {
    ownTokens.delete(token);
    throw err;
  }
}

async function acquire(lockFile: string, token: string, log: Log): Promise<() => Promise<void>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    // link() publishes the lock with its content in one step: nobody can read it half-written.
    const candidate = `${lockFile}.${token}`;
    await writeFile(candidate, `${process.pid}\n${token}\n`);
    try {
      await link(candidate, lockFile);
      return async () => {
        ownTokens.delete(token);
        await rm(lockFile, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await rm(candidate, { force: true });
    }
    const holder = await readHolder(lockFile);
    if (!holder) continue;
    const stale = !holder.pid || !processAlive(holder.pid) || (holder.pid === process.pid && !ownTokens.has(holder.token));
    if (stale && (await takeOver(lockFile, holder, log))) continue;
    if (Date.now() > deadline) {
      throw new Error(
        stale
          ? `The startup lock ${lockFile} of the dead process ${holder.pid} could not be taken over: ${nameTakeoverFile(lockFile, holder)} ` +
              'was left by a process killed while taking it over. Delete both files if no app is starting.'
          : `Process ${holder.pid} has been starting the embedded PostgreSQL for a minute (${lockFile}).`,
      );
    }
    if (!stale) log(`embedded-postgres: waiting for process ${holder.pid} to finish starting the database`);
    await new Promise((r) => setTimeout(r, stale ? 20 : 200));
  }
}

function nameTakeoverFile(lockFile: string, holder: Holder): string {
  return `${lockFile}.takeover-${holder.token.replace(/[^\w-]/g, '')}`;
}

// Only the process that creates the takeover file for this lock (O_EXCL) may delete the lock;
// its dead holder never will, so the lock cannot change between our check and the removal. The
// takeover file goes only after the lock: whoever creates it later finds another token and leaves.
async function takeOver(lockFile: string, stale: Holder, log: Log): Promise<boolean> {
  const takeover = nameTakeoverFile(lockFile, stale);
  try {
    await writeFile(takeover, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    if ((await readHolder(lockFile))?.token === stale.token) {
      log(`embedded-postgres: taking over the startup lock of process ${stale.pid}, which is gone`);
      await rm(lockFile, { force: true });
    }
    return true;
  } finally {
    await rm(takeover, { force: true });
  }
}
