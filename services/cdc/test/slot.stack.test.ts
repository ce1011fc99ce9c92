import fs from 'node:fs';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { withDatabase } from '@bgc/config/database';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { cdcNames, startCdc } from './cdc-process.ts';
import { readUntil } from './topic-reader.ts';

/** Waits as every test here does: 20 s unless said otherwise. */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000) =>
  eventually(what, probe, { timeoutMs });

const metric = async (url: string, name: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
};

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

describe('cdc: the slot keeps moving, the stream stays alive', () => {
  test('an idle database: heartbeats advance the slot past WAL written elsewhere', async () => {
    await using ctx = await openTestContext('cdc-idle', { migrated: true });
    await using cdc = await startCdc(ctx, { BGC_CDC_HEARTBEAT_MS: '300' });
    const { slot } = cdcNames(ctx);
    const admin = await ctx.pg('primary');
    // WAL from another database: nothing in this one changes, so only the heartbeats can carry the slot past it
    const other = new pg.Client({ connectionString: withDatabase(ctx.urls.pgUrl, 'postgres') });
    await other.connect();
    await other.query('CREATE TEMP TABLE filler AS SELECT g FROM generate_series(1, 20000) g');
    const { rows } = await other.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await other.end();
    const passed = await waitFor('the slot to pass the other database’s WAL', async () => {
      const r = await admin.query<{ ok: boolean }>(
        `SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1`,
        [slot, rows[0]?.lsn],
      );
      return r.rows[0]?.ok ? true : undefined;
    });
    expect(passed).toBe(true);
    // the metric is read against the server's current position, which other test files running meanwhile move on
    // (a CI run once read 13 MB): the heartbeats must bring it down, not hold it down at one instant
    const limit = 10 * 1024 * 1024;
    let lag = Infinity;
    await waitFor('the lag metric under 10 MB', async () => {
      lag = await metric(cdc.metricsUrl, 'cdc_slot_confirmed_lag_bytes');
      return lag < limit ? lag : undefined;
    }).catch(() => undefined); // the assertion below says what it read last
    expect(lag, 'cdc_slot_confirmed_lag_bytes, 20 s after the slot passed the WAL').toBeLessThan(limit);
    expect(await cdc.stop()).toBe(0);
  });

  test('a silent stream is reconnected by the watchdog, and nothing written meanwhile is lost', async () => {
    await using ctx = await openTestContext('cdc-silent', { migrated: true });
    await using cdc = await startCdc(ctx, { BGC_CDC_WATCHDOG_MS: '3000', BGC_CDC_HEARTBEAT_MS: '500' });
    const { slot } = cdcNames(ctx);
    const admin = await ctx.pg('primary');
    const walsender = async () =>
      (
        await admin.query<{ pid: number | null }>(
          'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        )
      ).rows[0]?.pid ?? undefined;
    const frozen = await waitFor('the walsender', walsender);
    // freeze the server side of the stream: the socket stays open, nothing more arrives
    process.kill(frozen, 'SIGSTOP');
    try {
      const db = await ctx.connectAs('writer');
      await db.query(`INSERT INTO users (email, name, password_hash) VALUES ('during@example.com', 'During', 'x')`);
      await waitFor('the watchdog', async () =>
        (await metric(cdc.metricsUrl, 'cdc_stream_restarts_total{code="STREAM_SILENT"')) >= 1 ? true : undefined,
      );
    } finally {
      process.kill(frozen, 'SIGCONT');
      await admin.query('SELECT pg_terminate_backend($1)', [frozen]);
    }
    // a new walsender serves the slot again, and the insert made while the old one was frozen comes through
    const next = await waitFor('a new walsender', async () => {
      const pid = await walsender();
      return pid && pid !== frozen ? pid : undefined;
    });
    expect(next).not.toBe(frozen);
    await waitFor('the insert in Kafka', async () => {
      const events = await metric(cdc.metricsUrl, 'cdc_events_total{table="users"');
      return events >= 1 ? true : undefined;
    });
    expect(await cdc.stop()).toBe(0);
  });

  test('a slot dropped while the service was down: reported, recreated, and every row republished as a read', async () => {
    await using ctx = await openTestContext('cdc-lost', { migrated: true });
    const { slot, prefix } = cdcNames(ctx);
    const db = await ctx.connectAs('writer');
    const first = await startCdc(ctx);
    const { rows: [ann] = [] } = await db.query<{ id: string }>(
      `INSERT INTO users (email, name, password_hash) VALUES ('ann@example.com', 'Ann', 'x') RETURNING id`,
    );
    await waitFor('the insert in Kafka', async () =>
      (await metric(first.metricsUrl, 'cdc_events_total{table="users"')) >= 1 ? true : undefined,
    );
    expect(await first.stop()).toBe(0);

    // while nothing holds the slot: it goes, and changes are made that no stream will ever carry
    const admin = await ctx.pg('primary');
    await admin.query('SELECT pg_drop_replication_slot($1)', [slot]);
    await db.query(`UPDATE users SET name = 'Ann B' WHERE id = $1`, [ann?.id]);
    const { rows: [bob] = [] } = await db.query<{ id: string }>(
      `INSERT INTO users (email, name, password_hash) VALUES ('bob@example.com', 'Bob', 'x') RETURNING id`,
    );

    await using second = await startCdc(ctx);
    expect(await metric(second.metricsUrl, 'cdc_slots_lost_total')).toBe(1);
    expect(second.logs.some((l) => l.includes('the slot is gone'))).toBe(true);
    const reread = (rs: { value: string | null }[], email: string) =>
      rs.some((r) => r.value?.includes('"op":"r"') && r.value.includes(email));
    const records = await readUntil(
      ctx,
      [`${prefix}.public.users`],
      (rs) => reread(rs, 'bob@example.com') && reread(rs, 'ann@example.com'),
    );
    const lastOf = (id: string | undefined) =>
      JSON.parse(records.filter((r) => r.key === JSON.stringify({ id })).at(-1)?.value ?? 'null') as {
        op: string;
        after: { name: string; version: number };
      } | null;
    expect(lastOf(ann?.id)).toMatchObject({ op: 'r', after: { name: 'Ann B', version: 2 } });
    expect(lastOf(bob?.id)).toMatchObject({ op: 'r', after: { name: 'Bob' } });
    expect(await second.stop()).toBe(0);
  });

  test('a 500,000-row transaction streams through in bounded memory', async () => {
    await using ctx = await openTestContext('cdc-large', { migrated: true });
    // a heap far smaller than the transaction's events: holding them would end in an out-of-memory crash
    await using cdc = await startCdc(ctx, { NODE_OPTIONS: '--max-old-space-size=128' });
    const { prefix } = cdcNames(ctx);
    const rss = () => {
      const status = fs.readFileSync(`/proc/${cdc.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    };
    const baseline = rss();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 100);
    try {
      const db = await ctx.connectAs('writer');
      await db.query('BEGIN');
      await db.query('SET LOCAL statement_timeout = 0'); // the API role's limit is for requests, not this
      await db.query(
        `INSERT INTO users (email, name, password_hash)
         SELECT 'bulk' || g || '@example.com', 'Bulk ' || g, 'x' FROM generate_series(1, 500000) g`,
      );
      await db.query('COMMIT');
      const committedAt = Date.now();
      const admin = ctx.kafka('large-admin').admin();
      await admin.connect();
      try {
        await waitFor(
          'all 500,000 events in Kafka',
          async () => {
            const offsets = await admin.fetchTopicOffsets(`${prefix}.public.users`);
            const total = offsets.reduce((n, o) => n + Number(o.high), 0);
            if (total < 500_000) return undefined;
            process.stdout.write(`500k-row transaction: in Kafka ${Date.now() - committedAt} ms after commit\n`);
            return total;
          },
          240_000,
        );
      } finally {
        await admin.disconnect();
      }
    } finally {
      clearInterval(sampler);
    }
    // the events alone are ~250 MB of JSON; the process lived through them on a 128 MB heap, and its whole
    // footprint (heap, young generation, socket and Kafka buffers) stayed under this
    process.stdout.write(`500k-row transaction: RSS ${mb(baseline)} → peak ${mb(peak)}\n`);
    expect(peak).toBeLessThan(400 * 1024 * 1024);
    expect(await cdc.stop()).toBe(0);
  }, 300_000);
});
