/** Brings a database to the current schema: roles and privileges (as a superuser), migrations, partitions. */
import pg from 'pg';
import { withDatabase } from '@bgc/config/database';
import type { RoleUrls } from './bootstrap.ts';
import { bootstrapDatabase, bootstrapRoles } from './bootstrap.ts';
import { migrate } from './migrate.ts';
import type { MaintenanceReport } from './partitions.ts';
import { maintainPartitions } from './partitions.ts';

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface SetupReport {
  database: string;
  migrated: string[];
  partitions: MaintenanceReport;
}

/** `superuserUrl` is any database of the cluster; the target database is the migrator URL's. Idempotent. */
export async function setupDatabase(superuserUrl: string, urls: RoleUrls): Promise<SetupReport> {
  const database = decodeURIComponent(new URL(urls.DB_MIGRATOR_URL).pathname.slice(1));
  await withClient(superuserUrl, async (admin) => {
    await bootstrapRoles(admin, urls);
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  });
  await withClient(withDatabase(superuserUrl, database), (admin) => bootstrapDatabase(admin, urls));
  const migrated = await migrate({ databaseUrl: urls.DB_MIGRATOR_URL, direction: 'up' });
  const partitions = await withClient(urls.DB_MIGRATOR_URL, (c) => maintainPartitions(c));
  return { database, migrated: migrated.map((m) => m.name), partitions };
}
