/**
 * The database handle: Prisma Client on a pg pool that we own (so its size, acquire timeout and usage are ours to
 * set and to export as metrics), connected to PgBouncer as the writer role.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '@bgc/db/prisma';

export type Db = PrismaClient;

export function createDb(opts: { url: string; max: number; acquireTimeoutMs: number; applicationName: string }) {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max,
    // without it a request would wait forever for a connection when the pool is exhausted
    connectionTimeoutMillis: opts.acquireTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: opts.applicationName,
  });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return { prisma, pool };
}
