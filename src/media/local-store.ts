import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { contentTypeOf, type MediaStore } from './store.js';

/** Files under `dir` (DATA_DIR/media), two-level fan-out by hash; served by the app at /media/<key>. */
export function createLocalStore(dir: string): MediaStore {
  const fileOf = (key: string) => path.join(dir, key.slice(0, 2), key);
  return {
    kind: 'local',
    async put(key, bytes) {
      const file = fileOf(key);
      await mkdir(path.dirname(file), { recursive: true });
      // Write then rename: a reader never sees half an object.
      const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    },
    async get(key) {
      const file = fileOf(key);
      try {
        const { size } = await stat(file);
        return { body: createReadStream(file), contentType: contentTypeOf(key), size };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    async exists(key) {
      return stat(fileOf(key)).then(() => true, () => false);
    },
    async delete(key) {
      await rm(fileOf(key), { force: true });
    },
    url: (key) => `/media/${key}`,
  };
}
