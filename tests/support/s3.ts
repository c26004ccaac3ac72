import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll } from 'vitest';
import type { S3Settings } from '../../src/media/s3-store.js';

/** A real S3-compatible server (s3rver) on a free loopback port for this test file, with one bucket. */
export function useS3Server(bucket = 'shop-media'): { readonly settings: S3Settings } {
  let server: S3rver | undefined;
  let dir = '';
  let settings: S3Settings | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 's3rver-'));
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
    const { port } = await server.run();
    settings = {
      bucket,
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      forcePathStyle: true,
    };
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get settings() {
      if (!settings) throw new Error('useS3Server(): the server runs only inside hooks and tests');
      return settings;
    },
  };
}
