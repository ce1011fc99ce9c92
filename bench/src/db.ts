/**
 * Databases for generated data: a fresh one set up like production (roles, privileges, migrations, partitions)
 * through @bgc/db's setupDatabase, reached as the migrator role, as the test kit does for each test file.
 */
import pg from 'pg';
import { databaseEnv, withDatabase } from '@bgc/config/database';
import { loadEnv } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';
import { setupDatabase } from '@bgc/db/setup';

/** A superuser on the primary (BGC_PG_URL; the local stack's `postgres` by default). */
export const superuserUrl = () => withDatabase(loadEnv({ PG_URL: infraEnv.PG_URL }).PG_URL, 'postgres');

export function roleUrlsFor(database: string) {
  const env = loadEnv(databaseEnv);
  return {
    DB_MIGRATOR_URL: withDatabase(env.DB_MIGRATOR_URL, database),
    DB_WRITER_URL: withDatabase(env.DB_WRITER_URL, database),
    DB_READER_URL: withDatabase(env.DB_READER_URL, database),
    DB_CDC_URL: withDatabase(env.DB_CDC_URL, database),
  };
}

/** The default target: the migrator on the configured database (BGC_DB_MIGRATOR_URL, else the local `bgc`). */
export const defaultMigratorUrl = () => loadEnv(databaseEnv).DB_MIGRATOR_URL;

/** Creates (or, with reset, drops and recreates) `database` and brings it to the current schema. */
export async function prepareDatabase(database: string, opts: { superuserUrl?: string; reset?: boolean } = {}) {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) throw new Error(`database name ${database}: use [a-z0-9_]`);
  const admin = opts.superuserUrl ?? superuserUrl();
  if (opts.reset) {
    const main = decodeURIComponent(new URL(defaultMigratorUrl()).pathname.slice(1));
    if (database === main) throw new Error(`refusing to drop the platform's database ${main}`);
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } finally {
      await c.end();
    }
  }
  const urls = roleUrlsFor(database);
  await setupDatabase(admin, urls);
  return urls.DB_MIGRATOR_URL;
}
