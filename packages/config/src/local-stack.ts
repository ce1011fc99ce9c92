/**
 * The local stack's topology: one table of ports, read by the stack manager, the config defaults, the test kit and
 * the test that keeps docker-compose.yml in step. Every port is bound to 127.0.0.1 and sits below Linux's ephemeral
 * range (32768+) so that an outgoing connection can never hold it when a server wants to bind.
 */
export const LOCAL_HOST = '127.0.0.1';

export const LOCAL_PORTS = {
  postgresPrimary: 25432,
  postgresReplica: 25433,
  pgbouncer: 26432,
  /** Redis, cache role: evicting (maxmemory, allkeys-lfu), no persistence. */
  redis: 26379,
  /** Redis, store role: feeds and presence; never evicts, append-only file. */
  redisStore: 26380,
  kafka: 29092,
  kafkaController: 29093,
  jaegerOtlpGrpc: 24317,
  jaegerOtlpHttp: 24318,
  jaegerQuery: 26686,
  jaegerQueryGrpc: 26685,
  jaegerHealth: 23133,
  jaegerMetrics: 28888,
  prometheus: 29090,
} as const;

export type LocalPortName = keyof typeof LOCAL_PORTS;

/** Credentials of the local stack only (trust on the socket, SCRAM on TCP). Production sets its own through env. */
export const LOCAL_CREDENTIALS = {
  superuser: 'postgres',
  superuserPassword: 'postgres',
  replicationUser: 'replicator',
  replicationPassword: 'replicator',
  /** PgBouncer logs in as this role to look up passwords through pgbouncer.get_auth(). */
  pgbouncerAuthUser: 'pgbouncer_auth',
  pgbouncerAuthPassword: 'pgbouncer_auth',
  database: 'bgc',
} as const;

/**
 * The least-privilege roles the platform's processes use (created by `./bgc db bootstrap`); their local-stack
 * passwords. Services never connect as a superuser.
 */
export const LOCAL_DB_ROLES = {
  /** DDL: owns the schema, runs migrations and partition maintenance. */
  migrator: { user: 'bgc_migrator', password: 'bgc_migrator' },
  /** DML on the domain tables: the write API. */
  writer: { user: 'bgc_writer', password: 'bgc_writer' },
  /** SELECT only: the read API and the cache fills. */
  reader: { user: 'bgc_reader', password: 'bgc_reader' },
  /** REPLICATION and SELECT: the CDC service (stream and snapshots). */
  cdc: { user: 'bgc_cdc', password: 'bgc_cdc' },
} as const;
