// `npm run operator -- add|passwd|list|disable|enable`: console accounts on the database the app uses.
import { createInterface } from 'node:readline';
import {
  addOperator,
  changeOperatorPassword,
  listOperators,
  parseRole,
  setOperatorDisabled,
  type OperatorRole,
} from '../accounts/operators.js';
import { generatePassword, MIN_PASSWORD_LENGTH } from '../accounts/passwords.js';
import { runMain } from '../boot.js';
import { createDb } from '../db/client.js';
import { openDatabase } from '../db/database.js';
import { beijingDateTime } from '../lib/beijing-time.js';
import { ShopError } from '../shop/errors.js';

const USAGE = `usage:
  npm run operator -- add <email> [--role admin|viewer] [--generate]   password from stdin (one line, at least ${MIN_PASSWORD_LENGTH} characters), or generated and printed once
  npm run operator -- passwd <email>                                   new password from stdin
  npm run operator -- list
  npm run operator -- disable <email>
  npm run operator -- enable <email>`;

const [command, ...rest] = process.argv.slice(2);
const flags = new Set(rest.filter((a) => a.startsWith('--')));
const positional: string[] = [];
let role: OperatorRole = 'admin';
for (let i = 0; i < rest.length; i++) {
  const arg = rest[i]!;
  if (arg === '--role') {
    try {
      role = parseRole(rest[++i] ?? '');
    } catch (err) {
      console.error((err as Error).message);
      process.exit(1);
    }
  } else if (!arg.startsWith('--')) positional.push(arg);
}
const known = ['add', 'passwd', 'list', 'disable', 'enable'];
const unknownFlag = [...flags].find((f) => !['--role', '--generate'].includes(f));
if (!command || !known.includes(command) || unknownFlag || (command !== 'list' && positional.length !== 1)) {
  console.error(unknownFlag ? `unknown option ${unknownFlag}\n${USAGE}` : USAGE);
  process.exit(command === undefined || command === 'help' || command === '--help' ? 2 : 1);
}
const email = positional[0] ?? '';

/** One line from stdin (prompted when it is a terminal). */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password: ');
  const lines = createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    lines.close();
    return line.replace(/\r$/, '');
  }
  return '';
}

await runMain(
  async ({ config, logger, onShutdown, shutdown }) => {
    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
    onShutdown('database server', () => database.close());
    const db = createDb(database.url, { poolSize: 2 });
    onShutdown('database pool', () => db.$disconnect());
    try {
      if (command === 'add') {
        const generated = flags.has('--generate');
        const password = generated ? generatePassword() : await readPassword();
        const operator = await addOperator(db, { email, password, role });
        console.log(`operator ${operator.email} added (role ${operator.role})`);
        if (generated) console.log(`password (shown once): ${password}`);
      } else if (command === 'passwd') {
        await changeOperatorPassword(db, email, await readPassword());
        console.log(`password of ${email.toLowerCase()} changed`);
      } else if (command === 'list') {
        const operators = await listOperators(db);
        if (!operators.length) console.log('no operators yet');
        for (const o of operators) {
          const last = o.lastSignInAt ? `last sign-in ${beijingDateTime(o.lastSignInAt)} (Beijing)` : 'never signed in';
          console.log(`${o.email}\t${o.role}\t${o.disabled ? 'disabled' : 'active'}\t${last}`);
        }
      } else {
        await setOperatorDisabled(db, email, command === 'disable');
        console.log(`operator ${email.toLowerCase()} ${command}d`);
      }
    } catch (err) {
      if (!(err instanceof ShopError)) throw err;
      console.error(err.message);
      await shutdown('failed', 1);
    }
    await shutdown('done');
  },
  { signals: false, logLevel: (config) => (config.logLevel === 'silent' ? 'silent' : 'warn') },
);
