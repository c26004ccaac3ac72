// bench/support.ts still imports this path; it is owned elsewhere, so keep it working until it moves to ./embedded-postgres/index.js.
export * from './embedded-postgres/index.js';
