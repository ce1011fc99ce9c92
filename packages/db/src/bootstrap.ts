/**
 * What a superuser does once, before any migration: the four least-privilege roles (cluster-wide) and, per
 * database, the schema ownership and default privileges that let every table a migration creates be usable by
 * exactly the roles that need it. Idempotent. Role names and passwords come from the roles' connection URLs.
 */
import type pg from 'pg';

export interface RoleUrls {
  DB_MIGRATOR_URL: string;
  DB_WRITER_URL: string;
  DB_READER_URL: string;
  DB_CDC_URL: string;
}

function credentials(url: string) {
  const u = new URL(url);
  return { user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export function roleNames(urls: RoleUrls) {
  return {
    migrator: credentials(urls.DB_MIGRATOR_URL).user,
    writer: credentials(urls.DB_WRITER_URL).user,
    reader: credentials(urls.DB_READER_URL).user,
    cdc: credentials(urls.DB_CDC_URL).user,
  };
}

/** Cluster-wide: the roles, their passwords and their session defaults. */
export async function bootstrapRoles(admin: pg.ClientBase, urls: RoleUrls): Promise<void> {
  const roles = [
    { ...credentials(urls.DB_MIGRATOR_URL), attrs: 'LOGIN' },
    { ...credentials(urls.DB_WRITER_URL), attrs: 'LOGIN' },
    { ...credentials(urls.DB_READER_URL), attrs: 'LOGIN' },
    { ...credentials(urls.DB_CDC_URL), attrs: 'LOGIN REPLICATION' },
  ];
  for (const r of roles) {
    const exists = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [r.user]);
    const verb = exists.rowCount === 0 ? 'CREATE' : 'ALTER';
    await admin.query(`${verb} ROLE ${ident(r.user)} WITH ${r.attrs} PASSWORD ${literal(r.password)}`);
  }
  const n = roleNames(urls);
  // a migration waits at most 5 s for a lock, then fails (and can be retried) instead of queueing every
  // writer behind it; index builds may take as long as they need
  await admin.query(`ALTER ROLE ${ident(n.migrator)} SET lock_timeout = '5s'`);
  await admin.query(`ALTER ROLE ${ident(n.migrator)} SET statement_timeout = 0`);
  // API requests are short: a runaway statement is cut off rather than holding a pooled connection
  await admin.query(`ALTER ROLE ${ident(n.writer)} SET statement_timeout = '10s'`);
  await admin.query(`ALTER ROLE ${ident(n.reader)} SET statement_timeout = '10s'`);
}

/** Per database (run while connected to it): ownership of `public` and default privileges. */
export async function bootstrapDatabase(adminOnDb: pg.ClientBase, urls: RoleUrls): Promise<void> {
  const n = roleNames(urls);
  const [m, w, r, c] = [n.migrator, n.writer, n.reader, n.cdc].map(ident);
  const { rows } = await adminOnDb.query<{ db: string }>('SELECT current_database() AS db');
  const db = ident(rows[0]?.db ?? '');
  await adminOnDb.query(`
    GRANT CONNECT ON DATABASE ${db} TO ${w}, ${r}, ${c};
    GRANT CONNECT, CREATE ON DATABASE ${db} TO ${m};
    ALTER SCHEMA public OWNER TO ${m};
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    GRANT USAGE ON SCHEMA public TO ${w}, ${r}, ${c};
    ALTER DEFAULT PRIVILEGES FOR ROLE ${m} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${w};
    ALTER DEFAULT PRIVILEGES FOR ROLE ${m} IN SCHEMA public GRANT SELECT ON TABLES TO ${r}, ${c};
    ALTER DEFAULT PRIVILEGES FOR ROLE ${m} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${w};
  `);
}
