import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import { PROJECT_ROOT } from '../../src/paths.js';

import type { DiffParams } from '@prisma/schema-engine-wasm';

type Engine = typeof import('@prisma/schema-engine-wasm');
let enginePromise: Promise<Engine> | undefined;

// @prisma/schema-engine-wasm imports its .wasm as an ES module, which Node 20 cannot do without a
// flag; instantiate it by hand with the package's own JS glue instead. A dev/test aid only.
function loadSchemaEngine(): Promise<Engine> {
  enginePromise ??= (async () => {
    const dir = path.join(PROJECT_ROOT, 'node_modules', '@prisma', 'schema-engine-wasm');
    const glue = await import(path.join(dir, 'schema_engine_bg.js'));
    const bytes = await readFile(path.join(dir, 'schema_engine_bg.wasm'));
    const wasm = (globalThis as unknown as { WebAssembly: { instantiate(b: Buffer, i: object): Promise<{ instance: { exports: unknown } }> } }).WebAssembly;
    const { instance } = await wasm.instantiate(bytes, { './schema_engine_bg.js': glue });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start: () => void }).__wbindgen_start();
    return glue as Engine;
  })();
  return enginePromise;
}

export type DiffSource = 'empty' | 'database' | 'migrations';

/**
 * SQL that turns `from` into schema.prisma, as Prisma's own engine computes it (`prisma migrate
 * diff`). `database` is the live database at `databaseUrl`; `migrations` replays
 * prisma/migrations on a shadow database created on that server. Empty string: no difference.
 */
export async function diffSchemas(databaseUrl: string, opts: { from: DiffSource; to: 'schema' }): Promise<string> {
  const { SchemaEngine } = await loadSchemaEngine();
  const schemaPath = path.join(PROJECT_ROOT, 'prisma', 'schema.prisma');
  const schema = await readFile(schemaPath, 'utf8');
  const files = [{ path: schemaPath, content: schema }];
  const adapter = bindMigrationAwareSqlAdapterFactory(new PrismaPg({ connectionString: databaseUrl }));
  const engine = await SchemaEngine.new({ datamodels: [[schemaPath, schema]] }, () => {}, adapter);
  try {
    const migrationsDir = path.join(PROJECT_ROOT, 'prisma', 'migrations');
    const from =
      opts.from === 'empty'
        ? { tag: 'empty' as const }
        : opts.from === 'database'
          ? { tag: 'schemaDatasource' as const, files, configDir: PROJECT_ROOT }
          : {
              tag: 'migrations' as const,
              baseDir: migrationsDir,
              lockfile: { path: 'migration_lock.toml', content: await readFile(path.join(migrationsDir, 'migration_lock.toml'), 'utf8') },
              shadowDbInitScript: '',
              migrationDirectories: await Promise.all(
                (await readdir(migrationsDir, { withFileTypes: true }))
                  .filter((d) => d.isDirectory())
                  .map((d) => d.name)
                  .sort()
                  .map(async (name) => ({
                    path: name,
                    migrationFile: {
                      path: 'migration.sql',
                      content: { tag: 'ok' as const, value: await readFile(path.join(migrationsDir, name, 'migration.sql'), 'utf8') },
                    },
                  })),
              ),
            };
    const result = await engine.diff({
      from,
      to: { tag: 'schemaDatamodel', files },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    } as DiffParams);
    const sql = (result.stdout ?? '').trim();
    return /^-- This is an empty migration\.?$/.test(sql) ? '' : sql;
  } finally {
    engine.free();
  }
}
