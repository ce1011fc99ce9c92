/**
 * The CDC service's Prometheus metrics. Slot health is read from Postgres at scrape time: retained WAL (what the
 * slot keeps on the primary's disk), confirmed-flush lag (what is written but not yet in Kafka), wal_status
 * (reserved / extended / unreserved / lost) and whether a reader is attached.
 */
import type pg from 'pg';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

const WAL_STATUSES = ['reserved', 'extended', 'unreserved', 'lost', 'missing'] as const;

export function createCdcMetrics(registry: Registry, slotPool: pg.Pool, slot: string, inFlight: () => number) {
  const registers = [registry];
  // one query per scrape, shared by the slot gauges
  let cached: { at: number; value: Promise<SlotHealth | undefined> } | undefined;
  const slotHealth = () => {
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), value: readSlotHealth(slotPool, slot) };
    return cached.value;
  };
  new Gauge({
    name: 'cdc_slot_retained_wal_bytes',
    help: 'WAL the slot keeps on the primary (current LSN minus restart_lsn)',
    registers,
    async collect() {
      const state = await slotHealth();
      this.set(state?.retained ?? 0);
    },
  });
  new Gauge({
    name: 'cdc_slot_confirmed_lag_bytes',
    help: 'WAL written on the primary but not yet acknowledged as in Kafka (current LSN minus confirmed_flush_lsn)',
    registers,
    async collect() {
      const state = await slotHealth();
      this.set(state?.lag ?? 0);
    },
  });
  new Gauge({
    name: 'cdc_slot_wal_status',
    help: '1 for the slot’s wal_status (lost: changes are gone, rebuild from a snapshot; missing: no slot)',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      const state = await slotHealth();
      for (const s of WAL_STATUSES) this.set({ status: s }, (state?.walStatus ?? 'missing') === s ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cdc_inflight_bytes',
    help: 'Change events read from the WAL and not yet acknowledged by Kafka',
    registers,
    collect() {
      this.set(inFlight());
    },
  });
  return {
    events: new Counter({
      name: 'cdc_events_total',
      help: 'Change events published, by table and op',
      labelNames: ['table', 'op'] as const,
      registers,
    }),
    transactions: new Counter({ name: 'cdc_transactions_total', help: 'Transactions made durable', registers }),
    commitToKafka: new Histogram({
      name: 'cdc_commit_to_kafka_seconds',
      help: 'From the transaction’s commit in Postgres to Kafka acknowledging its last event',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    durableLsn: new Gauge({
      name: 'cdc_durable_lsn',
      help: 'Commit-end LSN up to which everything is in Kafka (acknowledged to Postgres)',
      registers,
    }),
    restarts: new Counter({
      name: 'cdc_stream_restarts_total',
      help: 'Stream reconnections, by the error code that caused them',
      labelNames: ['code'] as const,
      registers,
    }),
    slotsLost: new Counter({
      name: 'cdc_slots_lost_total',
      help: 'Slots found invalidated or missing after they had streamed (their changes since then are lost)',
      registers,
    }),
    // where the stream loop waits: for WAL (an empty channel) or for Kafka (a full batch queue); the rest of the
    // time it works, so a loop below its CPU's pace shows which side holds it back
    waits: new Counter({
      name: 'cdc_stream_wait_seconds_total',
      help: 'Time the stream loop waited, on the WAL (nothing to read) or on Kafka (backpressure)',
      labelNames: ['on'] as const,
      registers,
    }),
    truncates: new Counter({
      name: 'cdc_truncates_skipped_total',
      help: 'TRUNCATEs seen and not published (compacted topics cannot carry a keyless event)',
      registers,
    }),
  };
}

export type CdcMetrics = ReturnType<typeof createCdcMetrics>;

interface SlotHealth {
  retained: number;
  lag: number;
  walStatus: string;
}

function readSlotHealth(pool: pg.Pool, slot: string): Promise<SlotHealth | undefined> {
  return pool
    .query<{ retained: string; lag: string; wal_status: string }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained,
              pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag,
              coalesce(wal_status, 'lost') AS wal_status
         FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    )
    .then(({ rows: [row] }) =>
      row ? { retained: Number(row.retained), lag: Number(row.lag), walStatus: row.wal_status } : undefined,
    )
    .catch(() => undefined);
}
