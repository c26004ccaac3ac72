// `npm run db:migrate` and `npm run db:seed`: the same database the app would use.
import 'dotenv/config';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { seedGoods } from '../shop/seed.js';
import { createDb } from './client.js';
import { openDatabase } from './database.js';

const command = process.argv[2];
if (command !== 'migrate' && command !== 'seed') {
  console.error('usage: tsx src/db/cli.ts migrate|seed');
  process.exit(2);
}
const config = loadConfig(process.env);
const logger = createLogger(config.logLevel === 'silent' ? 'silent' : 'info');
const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
try {
  if (command === 'seed') {
    const db = createDb(database.url, { poolSize: 2 });
    const result = await seedGoods(db);
    await db.$disconnect();
    console.log(`seeded goods: ${result.created} created, ${result.updated} restored`);
  } else {
    console.log('database is up to date');
  }
} finally {
  await database.close();
}
