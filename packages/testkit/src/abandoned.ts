/**
 * What killed test runs leave behind: a file's database (`t_…`) is dropped with its replication slots when its
 * context is disposed, but a run stopped with kill -9 (or a crashed worker) never disposes. Its slots would keep
 * every later byte of WAL on disk (gigabytes within a few runs). The integration setup sweeps them before a run.
 * Only databases older than `minAgeMs` with no connections are swept, so another run going on at the same time on
 * the same stack keeps its own.
 */
import type pg from 'pg';

export async function sweepAbandonedTestDatabases(
  admin: pg.Client,
  opts: { minAgeMs: number; log: (line: string) => void; /** LIKE pattern of the names swept */ like?: string },
): Promise<string[]> {
  // a database's creation time: its PG_VERSION file is written once, by CREATE DATABASE (missing_ok: a database
  // that another run is dropping right now has lost its files already)
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT d.datname
       FROM pg_database d
      WHERE d.datname LIKE $2
        AND (pg_stat_file('base/' || d.oid || '/PG_VERSION', true)).modification
            < now() - make_interval(secs => $1 / 1000.0)
        AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)
        AND NOT EXISTS (SELECT 1 FROM pg_replication_slots s WHERE s.database = d.datname AND s.active)`,
    [opts.minAgeMs, opts.like ?? 't\\_%'],
  );
  const swept: string[] = [];
  for (const { datname } of rows) {
    try {
      await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [
        datname,
      ]);
      await admin.query(`DROP DATABASE IF EXISTS "${datname.replace(/"/g, '""')}" WITH (FORCE)`);
      swept.push(datname);
    } catch (err) {
      opts.log(`could not drop abandoned test database ${datname}: ${(err as Error).message}`);
    }
  }
  if (swept.length > 0) opts.log(`dropped ${swept.length} test database(s) (and slots) left by killed runs`);
  return swept;
}
