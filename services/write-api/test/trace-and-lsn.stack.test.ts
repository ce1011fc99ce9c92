import crypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { replayedOn } from '@bgc/testkit/replica';
import { client, signUp } from './client.ts';
import { startWriteApi } from './server.ts';

interface JaegerTrace {
  spans: {
    operationName: string;
    processID: string;
    tags?: { key: string; value: string | number }[];
    spanID: string;
    references?: { refType: string; traceID: string; spanID: string }[];
  }[];
  processes: Record<string, { serviceName: string }>;
}

/** `service:operation`, and for a database span its statement after a space */
const spanNames = (t: JaegerTrace) =>
  t.spans.map((s) => {
    const statement = s.tags?.find((tag) => tag.key === 'db.statement' || tag.key === 'db.query.text')?.value;
    return `${t.processes[s.processID]?.serviceName}:${s.operationName}${statement ? ` ${statement}` : ''}`;
  });

/**
 * Polls Jaeger until the trace holds every span named (spans arrive in batches, the server span last); the trace as
 * last read.
 */
async function jaegerTrace(jaegerUrl: string, traceId: string, names: string[]): Promise<JaegerTrace | undefined> {
  let last: JaegerTrace | undefined;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const res = await fetch(`${jaegerUrl}/api/traces/${traceId}`);
    if (res.ok) {
      last = ((await res.json()) as { data: JaegerTrace[] }).data[0];
      const seen = last ? spanNames(last) : [];
      if (names.every((n) => seen.some((s) => s.startsWith(n)))) return last;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

describe('write-api: the trace goes into the WAL; the commit position comes back', () => {
  test('a write carries the request traceparent into its transaction, lands in Jaeger, and answers with a replayable LSN', async () => {
    await using ctx = await openTestContext('wapi-trace', { migrated: true });
    const admin = await ctx.pg('primary');
    const slot = `trace_${ctx.id}`;
    await admin.query(`SELECT pg_create_logical_replication_slot($1, 'test_decoding')`, [slot]);
    try {
      await using server = await startWriteApi(ctx);
      const api = client(server.url);
      const ann = await signUp(api, 'Ann');
      const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });

      const traceId = crypto.randomBytes(16).toString('hex');
      const callerSpanId = crypto.randomBytes(8).toString('hex');
      const traceparent = `00-${traceId}-${callerSpanId}-01`;
      const sent = await api.post<{ id: string }>(
        `/v1/rooms/${room.body.id}/messages`,
        { content: 'traced' },
        { token: ann.token, headers: { traceparent } },
      );
      expect(sent.status).toBe(201);

      // the transaction that inserted the message starts with a logical message carrying this trace
      const changes = await admin.query<{ xid: string; data: string }>(
        `SELECT xid::text, data FROM pg_logical_slot_get_changes($1, NULL, NULL, 'include-xids', '0')`,
        [slot],
      );
      // test_decoding names the partition the row went to (messages_pYYYY_MM)
      const insert = changes.rows.find(
        (c) => /table public\.messages\w*: INSERT/.test(c.data) && c.data.includes('traced'),
      );
      expect(insert).toBeDefined();
      const sameTx = changes.rows.filter((c) => c.xid === insert?.xid).map((c) => c.data);
      const message = sameTx.find((d) => d.includes('prefix: otel.traceparent'));
      expect(message).toMatch(new RegExp(`content:00-${traceId}-[0-9a-f]{16}-01`));
      expect(sameTx.indexOf(message ?? '')).toBeLessThan(sameTx.indexOf(insert?.data ?? ''));

      // a refused send (not a member) writes nothing to the WAL, not even its trace message
      const bob = await signUp(api, 'Bob');
      const refusedTraceId = crypto.randomBytes(16).toString('hex');
      const refused = await api.post(
        `/v1/rooms/${room.body.id}/messages`,
        { content: 'not a member' },
        {
          token: bob.token,
          headers: { traceparent: `00-${refusedTraceId}-${crypto.randomBytes(8).toString('hex')}-01` },
        },
      );
      expect(refused.status).toBe(403);
      const after = await admin.query<{ data: string }>(
        `SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL)`,
        [slot],
      );
      expect(after.rows.filter((c) => c.data.includes(refusedTraceId) || c.data.includes('not a member'))).toEqual([]);

      // and Jaeger has the request's spans, the database's among them
      const stored = await jaegerTrace(ctx.urls.jaegerUrl, traceId, [
        'write-api:POST /v1/rooms/:roomId/messages',
        'write-api:pg.query:INSERT',
      ]);
      const names = stored ? spanNames(stored) : [];
      expect(names).toContain('write-api:POST /v1/rooms/:roomId/messages');
      // the send's statement, parameterized: the trace never holds what was sent
      const sendSpan = names.find((n) => n.startsWith('write-api:pg.query:INSERT'));
      expect(sendSpan).toContain('FROM send_room_messages($1::text[], $2::uuid[]');
      expect(sendSpan).not.toContain("'traced'");
      expect(sendSpan).not.toContain('"traced"');
      // the server span continues the caller's span and says how the request ended
      const serverSpan = stored?.spans.find((s) => s.operationName === 'POST /v1/rooms/:roomId/messages');
      expect(serverSpan?.references).toContainEqual(
        expect.objectContaining({ refType: 'CHILD_OF', spanID: callerSpanId }),
      );
      const tags = Object.fromEntries(serverSpan?.tags?.map((t) => [t.key, t.value]) ?? []);
      expect(tags).toMatchObject({
        'http.request.method': 'POST',
        'http.route': '/v1/rooms/:roomId/messages',
        'http.response.status_code': 201,
        'span.kind': 'server',
      });

      // read-your-writes: once the replica has replayed Commit-LSN, the message is there
      const lsn = sent.headers.get('commit-lsn');
      expect(lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      const replica = await ctx.pg('replica');
      await replayedOn(replica, lsn, 'the replica to replay the Commit-LSN');
      const onReplica = await replica.query('SELECT 1 FROM messages WHERE id = $1', [sent.body.id]);
      expect(onReplica.rowCount).toBe(1);

      // SIGTERM: in-flight work finishes and the process exits cleanly
      expect(await server.stop()).toBe(0);
    } finally {
      await admin.query('SELECT pg_drop_replication_slot($1)', [slot]);
    }
  });

  test('sends that share a statement: the database span is in the first one’s trace, the others link to it', async () => {
    await using ctx = await openTestContext('wapi-links', { migrated: true });
    // the first send leaves at once and the others gather behind it for 1.5 s, however slowly a loaded machine
    // delivers them (with only one statement at a time, a CI run once got every send in a statement of its own)
    await using server = await startWriteApi(ctx, {
      BGC_WRITE_API_BATCH_IN_FLIGHT: '1',
      BGC_WRITE_API_BATCH_INTERVAL_MS: '1500',
    });
    const api = client(server.url);
    const ann = await signUp(api, 'Ann');
    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    const traceIds = Array.from({ length: 12 }, () => crypto.randomBytes(16).toString('hex'));
    const replies = await Promise.all(
      traceIds.map((traceId, i) =>
        api.post(
          `/v1/rooms/${room.body.id}/messages`,
          { content: `linked ${i}` },
          { token: ann.token, headers: { traceparent: `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01` } },
        ),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(traceIds.map(() => 201));

    const traces = new Map<string, JaegerTrace>();
    for (const traceId of traceIds) {
      const stored = await jaegerTrace(ctx.urls.jaegerUrl, traceId, ['write-api:POST /v1/rooms/:roomId/messages']);
      if (stored) traces.set(traceId, stored);
    }
    const serverSpanOf = (t: JaegerTrace | undefined) =>
      t?.spans.find((s) => s.operationName === 'POST /v1/rooms/:roomId/messages');
    const hasStatement = (t: JaegerTrace | undefined) =>
      t?.spans.some((s) => s.operationName.startsWith('pg.query:INSERT')) ?? false;
    let followers = 0;
    for (const traceId of traceIds) {
      const t = traces.get(traceId);
      const span = serverSpanOf(t);
      const size = Number(span?.tags?.find((tag) => tag.key === 'bgc.batch.size')?.value);
      expect(size, `batch size of ${traceId}`).toBeGreaterThanOrEqual(1);
      if (hasStatement(t)) continue;
      // a follower: no statement of its own, a link to the leader's server span, whose trace holds the statement
      followers += 1;
      expect(size).toBeGreaterThan(1);
      const link = span?.references?.find((r) => r.refType === 'FOLLOWS_FROM');
      expect(link, `link of ${traceId}`).toBeDefined();
      const leader = traces.get(link?.traceID ?? '');
      expect(serverSpanOf(leader)?.spanID).toBe(link?.spanID);
      expect(hasStatement(leader)).toBe(true);
    }
    expect(followers).toBeGreaterThan(0);
  });
});
