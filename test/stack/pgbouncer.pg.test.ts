import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';

/** PgBouncer's admin console: the special database "pgbouncer" answers SHOW commands. */
async function adminConsole(poolerUrl: string, command: string) {
  const u = new URL(poolerUrl);
  u.pathname = '/pgbouncer';
  const client = new pg.Client({ connectionString: u.toString() });
  await client.connect();
  try {
    // the console only speaks the simple query protocol
    return (await client.query({ text: command, queryMode: 'simple' } as pg.QueryConfig)).rows as Record<
      string,
      unknown
    >[];
  } finally {
    await client.end();
  }
}

describe('pgbouncer', () => {
  test('queries pass through PgBouncer to the primary, in transaction pooling mode', async () => {
    await using ctx = await openTestContext('pgbouncer');
    const client = await ctx.pg('pooler');
    const { rows } = await client.query<{ db: string; port: number }>(
      'SELECT current_database() AS db, inet_server_port() AS port',
    );
    // the server side of the connection is the primary's port, reached through PgBouncer's
    expect(rows[0]).toEqual({ db: ctx.database, port: Number(new URL(ctx.urls.pgUrl).port) });
    expect(new URL(ctx.urls.pgPoolerUrl).port).not.toBe(new URL(ctx.urls.pgUrl).port);

    const pools = await adminConsole(ctx.urls.pgPoolerUrl, 'SHOW POOLS');
    const ours = pools.find((p) => p.database === ctx.database);
    expect(ours).toBeDefined();
    expect(ours?.pool_mode).toBe('transaction');
  });

  test('caps server connections per database', async () => {
    await using ctx = await openTestContext('pgbouncer-cap');
    const config = await adminConsole(ctx.urls.pgPoolerUrl, 'SHOW CONFIG');
    const setting = (key: string) => config.find((c) => c.key === key)?.value;
    expect(Number(setting('max_db_connections'))).toBeLessThanOrEqual(200);
    expect(Number(setting('max_db_connections'))).toBeGreaterThan(0);
    expect(setting('pool_mode')).toBe('transaction');
  });
});
