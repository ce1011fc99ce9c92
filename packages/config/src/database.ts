/**
 * Where each process connects, as which role. Every URL carries its role's credentials, so a process reads only
 * the one it needs; the defaults are the local stack's.
 */
import { envTypes, secret } from './env.ts';
import { LOCAL_CREDENTIALS as C, LOCAL_DB_ROLES as R, LOCAL_HOST as H, LOCAL_PORTS as P } from './local-stack.ts';

const url = (role: { user: string; password: string }, port: number) =>
  secret(
    envTypes.url(['postgres', 'postgresql'], `postgres://${role.user}:${role.password}@${H}:${port}/${C.database}`),
  );

export const databaseEnv = {
  /** Migrations and partition maintenance: the primary, directly (DDL does not go through PgBouncer). */
  DB_MIGRATOR_URL: url(R.migrator, P.postgresPrimary),
  /** The write API: through PgBouncer (transaction pooling). */
  DB_WRITER_URL: url(R.writer, P.pgbouncer),
  /** Reads that tolerate replica lag: the streaming replica. */
  DB_READER_URL: url(R.reader, P.postgresReplica),
  /** The CDC service: the primary, directly (replication connections cannot be pooled). */
  DB_CDC_URL: url(R.cdc, P.postgresPrimary),
};

/** The same server and role, another database (each test file has its own). */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
