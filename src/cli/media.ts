// `npm run media -- migrate --to s3`: copies every referenced picture from the local disk
// (DATA_DIR/media) to the S3 bucket in MEDIA_S3_*; idempotent and resumable. Then set
// MEDIA_STORAGE=s3 and restart.
import path from 'node:path';
import { runMain } from '../boot.js';
import { ConfigError } from '../config.js';
import { createDb } from '../db/client.js';
import { openDatabase } from '../db/database.js';
import { copyMedia } from '../media/index.js';
import { createLocalStore } from '../media/local-store.js';
import { createS3Store } from '../media/s3-store.js';

const USAGE = 'usage: npm run media -- migrate --to s3';
const args = process.argv.slice(2);
if (args[0] !== 'migrate' || args[1] !== '--to' || args[2] !== 's3' || args.length !== 3) {
  console.error(USAGE);
  process.exit(2);
}

await runMain(
  async ({ config, logger, onShutdown, shutdown }) => {
    const s3 = config.media.s3;
    if (!s3) throw new ConfigError(['media migrate --to s3 needs MEDIA_S3_BUCKET and MEDIA_S3_REGION (and MEDIA_S3_ENDPOINT, MEDIA_S3_ACCESS_KEY_ID, MEDIA_S3_SECRET_ACCESS_KEY for services other than AWS)']);
    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
    onShutdown('database server', () => database.close());
    const db = createDb(database.url, { poolSize: 2 });
    onShutdown('database pool', () => db.$disconnect());
    const from = createLocalStore(path.join(config.dataDir, 'media'));
    const to = createS3Store(s3);
    const result = await copyMedia(db, from, to);
    console.log(`media migrate: ${result.copied} copied, ${result.present} already in the bucket, ${result.missing.length} missing locally`);
    for (const key of result.missing) console.log(`  missing: ${key}`);
    if (result.missing.length === 0) console.log('Done: set MEDIA_STORAGE=s3 and restart.');
    await shutdown('done', result.missing.length ? 1 : 0);
  },
  { signals: false, logLevel: (config) => (config.logLevel === 'silent' ? 'silent' : 'warn') },
);
