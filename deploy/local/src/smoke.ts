/**
 * A quick end-to-end check of the running stack, for `./bgc start`: each component does its real job once
 * (a write reaches the replica through a pooled connection, a message goes through Kafka, a span lands in Jaeger…).
 */
import crypto from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import pg from 'pg';
import { generationPrefix, readGenerations } from '@bgc/cache/generation';
import { keyspace } from '@bgc/cache/keys';
import { loadInfraConfig } from '@bgc/config/infra';
import { LOCAL_PORTS } from '@bgc/config/local-stack';
import { redisClient } from './components/redis.ts';
import { waitUntil } from './proc.ts';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

const cfg = loadInfraConfig();

/** How far the CDC has published: the newest confirmed position of the logical slots on the platform database. */
async function cdcPosition(db: pg.Client): Promise<string> {
  const r = await db.query<{ p: string | null }>(
    `SELECT max(confirmed_flush_lsn)::text AS p FROM pg_replication_slots
      WHERE slot_type = 'logical' AND database = current_database()`,
  );
  return r.rows[0]?.p ?? '';
}

/**
 * `awaited`'s value, or why it was given up: `position` had not moved for `stallMs`, or `maxMs` passed in all.
 * Waits as long as the work it depends on is visibly going on.
 */
async function untilStalled<T>(
  awaited: Promise<T>,
  position: () => Promise<string>,
  opts: { stallMs: number; maxMs: number },
): Promise<{ value: T } | { gaveUp: string }> {
  const started = Date.now();
  let last = await position();
  let moved = Date.now();
  const tick = Symbol('tick');
  for (;;) {
    const next = await Promise.race([awaited, new Promise<typeof tick>((r) => setTimeout(r, 1000, tick))]);
    if (next !== tick) return { value: next };
    const now = await position();
    if (now !== last) [last, moved] = [now, Date.now()];
    if (Date.now() - moved > opts.stallMs) return { gaveUp: `the CDC's slot stood still for ${opts.stallMs / 1000} s` };
    if (Date.now() - started > opts.maxMs) {
      return { gaveUp: `the CDC was still working through a backlog of WAL after ${opts.maxMs / 60_000} min` };
    }
  }
}

async function redisRoundTrip(url: string): Promise<string> {
  const client = redisClient(Number(new URL(url).port));
  const key = `bgc:smoke:${crypto.randomUUID()}`;
  try {
    await client.connect();
    await client.set(key, 'ok', 'EX', 60);
    const got = await client.get(key);
    if (got !== 'ok') throw new Error(`GET returned ${got}`);
  } finally {
    client.disconnect();
  }
  return 'SET/GET';
}

const checks: Record<string, () => Promise<string>> = {
  'write via PgBouncer, read on replica': async () => {
    const token = crypto.randomUUID();
    const pooled = new pg.Client({ connectionString: cfg.PG_POOLER_URL.replace(/\/[^/]*$/, '/postgres') });
    await pooled.connect();
    try {
      await pooled.query(
        'CREATE TABLE IF NOT EXISTS stack_smoke (token uuid PRIMARY KEY, at timestamptz DEFAULT now())',
      );
      await pooled.query('INSERT INTO stack_smoke (token) VALUES ($1)', [token]);
    } finally {
      await pooled.end();
    }
    const replica = new pg.Client({ connectionString: cfg.PG_REPLICA_URL.replace(/\/[^/]*$/, '/postgres') });
    await replica.connect();
    const t0 = Date.now();
    try {
      const seen = await waitUntil(
        async () => (await replica.query('SELECT 1 FROM stack_smoke WHERE token = $1', [token])).rowCount === 1,
        { timeoutMs: 10_000, intervalMs: 20 },
      );
      if (!seen) throw new Error('the row did not reach the replica within 10 s');
      await replica.query('DELETE FROM stack_smoke').then(
        () => {
          throw new Error('the replica accepted a write');
        },
        (err: Error) => err,
      );
    } finally {
      await replica.end();
    }
    return `row visible on the replica after ${Date.now() - t0} ms; the replica refuses writes`;
  },
  'Kafka produce and consume': () => retryWhileKafkaSettles(kafkaRoundTrip),
  'Redis cache round trip': () => redisRoundTrip(cfg.REDIS_URL),
  'Redis store round trip': () => redisRoundTrip(cfg.REDIS_STORE_URL),
  'span in Jaeger': async () => {
    const traceId = crypto.randomBytes(16).toString('hex');
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bgc-smoke' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId,
                  spanId: crypto.randomBytes(8).toString('hex'),
                  name: 'smoke',
                  kind: 1,
                  startTimeUnixNano: String(now),
                  endTimeUnixNano: String(now + 1_000_000n),
                },
              ],
            },
          ],
        },
      ],
    };
    const sent = await fetch(`${cfg.OTLP_URL}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!sent.ok) throw new Error(`OTLP export answered ${sent.status}`);
    const found = await waitUntil(async () => (await fetch(`${cfg.JAEGER_URL}/api/traces/${traceId}`)).ok, {
      timeoutMs: 15_000,
      intervalMs: 200,
    });
    if (!found) throw new Error(`trace ${traceId} not found in Jaeger within 15 s`);
    return `trace ${traceId}: ${cfg.JAEGER_URL}/api/traces/${traceId}`;
  },
  'write API → replica, Kafka (CDC) and Redis (projector)': async () => {
    const base = 'http://127.0.0.1:23000';
    // where the messages topic ends now: the new message's change event must appear after it
    const kafka = new Kafka({ brokers: cfg.KAFKA_BROKERS, clientId: 'bgc-smoke-cdc', logLevel: logLevel.NOTHING });
    const topic = 'bgc.public.messages';
    const admin = kafka.admin();
    await admin.connect();
    let ends: { partition: number; offset: string }[] = [];
    // a topic the CDC service has just created may not have its leader known to every client yet
    await waitUntil(
      async () => {
        ends = await admin.fetchTopicOffsets(topic).catch(() => []);
        return ends.length > 0;
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    ).finally(() => admin.disconnect());
    if (ends.length === 0) throw new Error(`topic ${topic} is not readable: ./bgc stack logs cdc`);
    const post = async (path: string, body: unknown, token?: string) => {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (!res.ok) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(json)}`);
      return { json, lsn: res.headers.get('commit-lsn') };
    };
    const email = `smoke.${crypto.randomUUID()}@example.com`;
    const signup = await post('/v1/auth/signup', { email, password: 'smoke-check-password', name: 'Smoke' });
    const token = String(signup.json.token);
    const room = await post('/v1/rooms', { name: 'smoke' }, token);
    const sent = await post(`/v1/rooms/${String(room.json.id)}/messages`, { content: 'hello' }, token);
    const replica = new pg.Client({ connectionString: cfg.PG_REPLICA_URL });
    await replica.connect();
    try {
      const seen = await waitUntil(
        async () =>
          (
            await replica.query('SELECT 1 FROM messages WHERE id = $1 AND pg_last_wal_replay_lsn() >= $2::pg_lsn', [
              sent.json.id,
              sent.lsn,
            ])
          ).rowCount === 1,
        { timeoutMs: 10_000, intervalMs: 20 },
      );
      if (!seen) throw new Error('the message did not reach the replica');
    } finally {
      await replica.end();
    }
    const consumer = kafka.consumer({ groupId: `bgc-smoke-cdc-${crypto.randomUUID()}` });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic });
      // seek only works once the group has joined, which a fresh broker can take a moment to allow
      const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
      let found: (value: string) => void = () => undefined;
      const event = new Promise<string>((resolve) => (found = resolve));
      await consumer.run({
        eachMessage: ({ message }) => {
          const value = message.value?.toString() ?? '';
          if (value.includes(String(sent.json.id))) found(value);
          return Promise.resolve();
        },
      });
      await Promise.race([joined, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      for (const { partition, offset } of ends) consumer.seek({ topic, partition, offset });
      // a CDC started behind a backlog of WAL (stopped while others wrote) publishes the message only once it has
      // worked through it: wait while it makes progress, give up once it stands still for 15 s
      const admin = new pg.Client({ connectionString: cfg.PG_URL });
      await admin.connect();
      const outcome = await untilStalled(event, () => cdcPosition(admin), {
        stallMs: 15_000,
        maxMs: 900_000,
      }).finally(() => admin.end());
      if ('gaveUp' in outcome) {
        throw new Error(`no change event for the message on ${topic}: ${outcome.gaveUp}; ./bgc stack logs cdc`);
      }
      const value = outcome.value;
      const op = (JSON.parse(value) as { op?: string }).op;
      const store = redisClient(LOCAL_PORTS.redisStore);
      const { live } = await readGenerations(store, '').finally(() => store.disconnect());
      const recent = keyspace(generationPrefix('', live)).roomRecent(String(room.json.id));
      const redis = redisClient(LOCAL_PORTS.redis);
      const projected = await waitUntil(async () => (await redis.zscore(recent, String(sent.json.id))) !== null, {
        timeoutMs: 15_000,
        intervalMs: 100,
      }).finally(() => redis.disconnect());
      if (!projected) throw new Error(`the message never reached ${recent} in Redis: ./bgc stack logs cache-projector`);
      return `message ${String(sent.json.id)} committed at ${sent.lsn}, on the replica, on ${topic} (op ${op}), in ${recent}`;
    } finally {
      await consumer.disconnect();
    }
  },
  'Prometheus targets': async () => {
    let summary = '';
    const ok = await waitUntil(
      async () => {
        const res = (await (await fetch(`${cfg.PROMETHEUS_URL}/api/v1/targets`)).json()) as {
          data: { activeTargets: { labels: { job: string; service?: string }; health: string }[] };
        };
        const targets = res.data.activeTargets;
        summary = targets.map((t) => `${t.labels.service ?? t.labels.job}=${t.health}`).join(', ');
        const up = (job: string, service?: string) =>
          targets.some((t) => t.labels.job === job && (!service || t.labels.service === service) && t.health === 'up');
        return (
          up('prometheus') &&
          up('jaeger') &&
          ['write-api', 'cdc', 'cache-projector', 'read-api', 'partition-maintainer'].every((service) =>
            up('services', service),
          )
        );
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    if (!ok) throw new Error(`targets not up: ${summary}`);
    return `${summary} (scrape :${LOCAL_PORTS.prometheus})`;
  },
};

/**
 * A broker that has just started (or is creating many topics for the CDC service) can answer "not the leader" or
 * "does not host this topic-partition" for a moment after a topic is created: those are retried, anything else
 * fails the check.
 */
async function retryWhileKafkaSettles<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const settling =
        (err as { retriable?: boolean }).retriable === true ||
        /not the leader|does not host|leader not available|coordinator/i.test((err as Error).message);
      if (!settling || attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function kafkaRoundTrip(): Promise<string> {
  const kafka = new Kafka({ brokers: cfg.KAFKA_BROKERS, clientId: 'bgc-smoke', logLevel: logLevel.NOTHING });
  const topic = 'bgc.stack-smoke';
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await admin.disconnect();
  const value = crypto.randomUUID();
  const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: [{ key: 'smoke', value }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `bgc-smoke-${value}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: ({ message }) => {
        if (message.value?.toString() === value) resolve();
        return Promise.resolve();
      },
    });
  });
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error('no message within 20 s')), 20_000),
  );
  await Promise.race([got, timeout]).finally(() => consumer.disconnect());
  return 'idempotent producer, acks=all, consumed back by a new group';
}

export async function smoke(): Promise<Check[]> {
  return Promise.all(
    Object.entries(checks).map(async ([name, run]) => {
      const t0 = Date.now();
      try {
        return { name, ok: true, detail: await run(), ms: Date.now() - t0 };
      } catch (err) {
        return { name, ok: false, detail: (err as Error).message, ms: Date.now() - t0 };
      }
    }),
  );
}
