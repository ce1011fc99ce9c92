/**
 * Applies prisma/migrations with node-pg-migrate, as the migrator role. Plain SQL files run in a transaction each;
 * a `.ts` migration is used only where Postgres forbids a transaction (CREATE INDEX CONCURRENTLY) or where the
 * statements depend on the partitions that exist at deploy time. Applied migrations are recorded in
 * migrations.pgmigrations, outside `public`, so the application roles never see that table.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../prisma/migrations');

export interface MigrateOptions {
  databaseUrl: string;
  direction: 'up' | 'down';
  /** How many migrations; all pending (up) or all applied (down) when omitted. */
  count?: number;
  log?: (line: string) => void;
}

export async function migrate(opts: MigrateOptions): ReturnType<typeof runner> {
  const log = opts.log ?? (() => undefined);
  return runner({
    databaseUrl: opts.databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsSchema: 'migrations',
    createMigrationsSchema: true,
    migrationsTable: 'pgmigrations',
    direction: opts.direction,
    count: opts.count ?? Infinity,
    checkOrder: true,
    // each migration in its own transaction (or none, when it says so): a CONCURRENTLY step cannot share one
    singleTransaction: false,
    verbose: false,
    logger: { debug: () => undefined, info: log, warn: log, error: log },
  });
}
