/**
 * PostgreSQL 15 from Debian: a primary with logical decoding and pg_stat_statements, and a hot-standby replica
 * made with pg_basebackup -R that streams from it through a physical slot. Both run as the `postgres` user when
 * we are root (Postgres refuses root).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { LOCAL_CREDENTIALS as C, LOCAL_HOST, LOCAL_PORTS } from '@bgc/config/local-stack';
import type { Component, Health } from '../component.ts';
import { StackError } from '../errors.ts';
import { chownTree, exec, logFileOf, portOpen, portOwner, render, serviceUser, tail } from '../proc.ts';
import { CONFIG_DIR, STATE_DIR } from '../settings.ts';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const REPLICA_SLOT = 'bgc_replica';
const user = serviceUser();

/**
 * Where the clusters live. The `postgres` user must be able to reach it; a clone under a private directory
 * (mktemp -d is 0700) is not reachable, so the data then goes to /var/tmp and .stack/pg links to it.
 */
export function pgRoot(): string {
  const inState = path.join(STATE_DIR, 'pg');
  if (fs.existsSync(inState)) return fs.realpathSync(inState);
  let target = inState;
  if (user && !reachableByServiceUser(STATE_DIR)) {
    const hash = crypto.createHash('sha1').update(STATE_DIR).digest('hex').slice(0, 12);
    target = path.join('/var/tmp', `bgc-stack-${hash}`, 'pg');
    fs.mkdirSync(target, { recursive: true });
    fs.mkdirSync(STATE_DIR, { recursive: true });
    fs.symlinkSync(target, inState);
  }
  fs.mkdirSync(target, { recursive: true });
  chownTree(target, user);
  return target;
}

function reachableByServiceUser(dir: string): boolean {
  // every ancestor must be searchable by "others" (the postgres user is neither owner nor group of a root clone)
  let d = path.resolve(dir);
  for (;;) {
    if (fs.existsSync(d) && (fs.statSync(d).mode & 0o001) === 0) return false;
    const parent = path.dirname(d);
    if (parent === d) return true;
    d = parent;
  }
}

export function adminUrl(port: number, database: string = C.database): string {
  return `postgres://${C.superuser}:${C.superuserPassword}@${LOCAL_HOST}:${port}/${database}`;
}

export async function query<T extends pg.QueryResultRow>(port: number, sql: string, database?: string) {
  const client = new pg.Client({ connectionString: adminUrl(port, database), connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

abstract class PostgresInstance implements Component {
  abstract readonly name: string;
  abstract readonly port: number;
  abstract readonly role: 'primary' | 'replica';
  abstract readonly after: readonly string[];
  readonly apt = [
    { bin: `${PG_BIN}/postgres`, pkg: 'postgresql-15' },
    { bin: `${PG_BIN}/pg_basebackup`, pkg: 'postgresql-15' },
  ];

  get address() {
    return `${LOCAL_HOST}:${this.port}`;
  }
  get dataDir() {
    return path.join(pgRoot(), this.role);
  }
  get socketDir() {
    return path.join(pgRoot(), 'sock');
  }

  protected pgCtl(args: string[]) {
    return exec(`${PG_BIN}/pg_ctl`, ['-D', this.dataDir, ...args], { user, timeoutMs: 120_000 });
  }

  async isRunning(): Promise<boolean> {
    if (!fs.existsSync(path.join(this.dataDir, 'PG_VERSION'))) return false;
    return (await this.pgCtl(['status'])).code === 0;
  }

  protected abstract initialize(): Promise<void>;
  protected abstract afterStart(): Promise<void>;
  abstract health(): Promise<Health>;

  /** Our settings go to bgc.conf on every start, so an edit in deploy/local/config applies on the next `up`. */
  protected writeConfig(): void {
    const vars = { PORT: this.port, SOCKET_DIR: this.socketDir };
    const conf = ['common.conf', `${this.role}.conf`]
      .map((f) => render(fs.readFileSync(path.join(CONFIG_DIR, 'postgres', f), 'utf8'), vars))
      .join('\n');
    fs.writeFileSync(path.join(this.dataDir, 'bgc.conf'), conf);
    fs.copyFileSync(path.join(CONFIG_DIR, 'postgres', 'pg_hba.conf'), path.join(this.dataDir, 'pg_hba.conf'));
    const main = path.join(this.dataDir, 'postgresql.conf');
    const text = fs.readFileSync(main, 'utf8');
    if (!text.includes("include_if_exists = 'bgc.conf'")) {
      fs.appendFileSync(
        main,
        "\n# the stack's settings (deploy/local/config/postgres)\ninclude_if_exists = 'bgc.conf'\n",
      );
    }
    chownTree(this.dataDir, user);
  }

  async start(): Promise<'started' | 'running'> {
    if (await this.isRunning()) return 'running';
    if (await portOpen(this.port)) {
      throw new StackError({
        code: 'PORT_IN_USE',
        component: this.name,
        message: `port ${this.port} is in use by ${await portOwner(this.port)}`,
        fix: `stop that process, or run ./bgc stack down in the clone that started it`,
      });
    }
    fs.mkdirSync(this.socketDir, { recursive: true });
    chownTree(this.socketDir, user);
    if (!fs.existsSync(path.join(this.dataDir, 'PG_VERSION'))) await this.initialize();
    this.writeConfig();
    const log = logFileOf(this.name);
    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.closeSync(fs.openSync(log, 'a'));
    if (user) fs.chownSync(log, user.uid, user.gid);
    const r = await this.pgCtl(['-l', log, '-w', '-t', '90', 'start']);
    if (r.code !== 0) {
      throw new StackError({
        code: 'PG_START_FAILED',
        component: this.name,
        message: `pg_ctl start failed: ${(r.stderr || r.stdout).trim()}\n${tail(log, 8)}`,
        fix: `read the log; if the data directory is damaged, ./bgc stack reset`,
        logFile: log,
      });
    }
    await this.afterStart();
    return 'started';
  }

  async stop(): Promise<boolean> {
    if (!(await this.isRunning())) return false;
    await this.pgCtl(['-m', 'fast', '-w', '-t', '60', 'stop']);
    return true;
  }
}

export class PostgresPrimary extends PostgresInstance {
  readonly name = 'postgres';
  readonly role = 'primary';
  readonly port = LOCAL_PORTS.postgresPrimary;
  readonly after = [];

  protected async initialize(): Promise<void> {
    fs.mkdirSync(this.dataDir, { recursive: true });
    chownTree(this.dataDir, user);
    const pwfile = path.join(pgRoot(), '.pwfile');
    fs.writeFileSync(pwfile, `${C.superuserPassword}\n`, { mode: 0o600 });
    chownTree(pwfile, user);
    const r = await exec(
      `${PG_BIN}/initdb`,
      ['-D', this.dataDir, '-U', C.superuser, `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C.UTF-8'].concat([
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '--data-checksums',
      ]),
      { user },
    );
    fs.rmSync(pwfile);
    if (r.code !== 0) {
      throw new StackError({
        code: 'PG_INITDB_FAILED',
        component: this.name,
        message: `initdb failed: ${r.stderr.trim()}`,
        fix: `remove ${this.dataDir} (./bgc stack reset) and try again`,
      });
    }
  }

  /** Idempotent bootstrap: roles, the app database, extensions, and PgBouncer's password lookup. */
  protected async afterStart(): Promise<void> {
    const client = new pg.Client({ connectionString: adminUrl(this.port, 'postgres') });
    await client.connect();
    try {
      await client.query(`DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${C.replicationUser}') THEN
          CREATE ROLE ${C.replicationUser} WITH LOGIN REPLICATION PASSWORD '${C.replicationPassword}';
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${C.pgbouncerAuthUser}') THEN
          CREATE ROLE ${C.pgbouncerAuthUser} WITH LOGIN PASSWORD '${C.pgbouncerAuthPassword}';
        END IF;
      END $$`);
      const exists = await client.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [C.database]);
      if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${C.database}`);
    } finally {
      await client.end();
    }
    // template1 first, so every database created later (each test's own) inherits the same objects
    for (const db of ['template1', 'postgres', C.database]) {
      const c = new pg.Client({ connectionString: adminUrl(this.port, db) });
      await c.connect();
      try {
        await c.query(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`);
        await c.query(PGBOUNCER_AUTH_SQL);
      } finally {
        await c.end();
      }
    }
  }

  async health(): Promise<Health> {
    try {
      const [row] = await query<{ wal_level: string; version: string }>(
        this.port,
        `SELECT current_setting('wal_level') AS wal_level, current_setting('server_version') AS version`,
      );
      return { ok: row?.wal_level === 'logical', detail: `PostgreSQL ${row?.version}, wal_level=${row?.wal_level}` };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }
}

export class PostgresReplica extends PostgresInstance {
  readonly name = 'replica';
  readonly role = 'replica';
  readonly port = LOCAL_PORTS.postgresReplica;
  readonly after = ['postgres'];

  /** A base backup of the primary that streams from a physical slot, so the primary keeps the WAL it needs. */
  protected async initialize(): Promise<void> {
    const primary = LOCAL_PORTS.postgresPrimary;
    await query(
      primary,
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${REPLICA_SLOT}'`,
      'postgres',
    );
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    const r = await exec(
      `${PG_BIN}/pg_basebackup`,
      ['-h', LOCAL_HOST, '-p', String(primary), '-U', C.replicationUser, '-D', this.dataDir].concat([
        '-R',
        '-X',
        'stream',
        '-C',
        '-S',
        REPLICA_SLOT,
        '-c',
        'fast',
        '-d',
        `application_name=${this.name}`,
      ]),
      { user, env: { PGPASSWORD: C.replicationPassword }, timeoutMs: 10 * 60_000 },
    );
    if (r.code !== 0) {
      fs.rmSync(this.dataDir, { recursive: true, force: true });
      throw new StackError({
        code: 'PG_BASEBACKUP_FAILED',
        component: this.name,
        message: `pg_basebackup failed: ${r.stderr.trim()}`,
        fix: 'check that the primary is healthy (./bgc stack status) and allows replication in pg_hba.conf',
      });
    }
  }

  protected async afterStart(): Promise<void> {}

  async health(): Promise<Health> {
    try {
      const [row] = await query<{ standby: boolean; lag: string | null }>(
        this.port,
        `SELECT pg_is_in_recovery() AS standby,
                (extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::text AS lag`,
      );
      if (!row?.standby) return { ok: false, detail: 'not in recovery: this is not a standby' };
      return { ok: true, detail: `hot standby, streaming from ${LOCAL_HOST}:${LOCAL_PORTS.postgresPrimary}` };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }
}

/** PgBouncer's auth_user may only read password hashes through this function, never pg_authid itself. */
const PGBOUNCER_AUTH_SQL = `
  CREATE SCHEMA IF NOT EXISTS pgbouncer AUTHORIZATION postgres;
  CREATE OR REPLACE FUNCTION pgbouncer.get_auth(p_usename text) RETURNS TABLE(usename name, passwd text)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
    $$ SELECT rolname, rolpassword FROM pg_authid WHERE rolname = p_usename AND rolcanlogin $$;
  REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
  GRANT USAGE ON SCHEMA pgbouncer TO ${C.pgbouncerAuthUser};
  GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO ${C.pgbouncerAuthUser};`;
