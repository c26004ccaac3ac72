// `npm run db:migrate` and `npm run db:seed`: the same database the app would use.
import { runMain } from '../boot.js';
import { createDb } from '../db/client.js';
import { openDatabase } from '../db/database.js';
import { createMediaLibrary, createMediaStore } from '../media/index.js';
import { drawSeedPicture } from '../media/seed-pictures.js';
import { seedGoods } from '../shop/seed.js';

const command = process.argv[2];
if (command !== 'migrate' && command !== 'seed') {
  console.error('usage: npm run db:migrate | npm run db:seed');
  process.exit(2);
}

await runMain(
  async ({ config, logger, onShutdown, shutdown }) => {
    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
    onShutdown('database server', () => database.close());
    if (command === 'seed') {
      const db = createDb(database.url, { poolSize: 2 });
      onShutdown('database pool', () => db.$disconnect());
      const result = await seedGoods(db, { media: createMediaLibrary(createMediaStore(config)), draw: drawSeedPicture });
      console.log(`seeded goods: ${result.created} created, ${result.updated} restored`);
    } else {
      console.log('database is up to date');
    }
    await shutdown('done');
  },
  { signals: false, logLevel: (config) => (config.logLevel === 'silent' ? 'silent' : 'info') },
);
