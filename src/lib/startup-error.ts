import { access, constants, mkdir } from 'node:fs/promises';

/** A startup problem the operator fixes (busy port, unwritable folder, …): printed as its one-line message, no stack. */
export class StartupError extends Error {
  override name = 'StartupError';
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOSPC: 'the disk is full',
};

/** Creates `dir` if needed and checks that this process can write into it. */
export async function ensureWritableDir(dir: string, setting: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new StartupError(
      `${setting} ${dir} cannot be written (${REASONS[code] ?? code}): set ${setting} to a folder this user (uid ${process.getuid?.() ?? '?'}) can write, or fix its permissions.`,
    );
  }
}
