import crypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { arrayLiteral } from '../src/statement-batcher.ts';
import { client, signUp } from './client.ts';
import { startWriteApi } from './server.ts';

const traceparentOf = (traceId: string) => `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01`;

describe('write-api: concurrent room sends share one statement and keep their own guarantees', () => {
  test('each send gets its own row and answer, its own trace message right before its row, and a bad one fails alone', async () => {
    await using ctx = await openTestContext('wapi-batch', { migrated: true });
    const admin = await ctx.pg('primary');
    const slot = `batch_${ctx.id}`;
    await admin.query(`SELECT pg_create_logical_replication_slot($1, 'test_decoding')`, [slot]);
    // one statement at a time: whatever arrives while it runs must leave as a batch
    await using server = await startWriteApi(ctx, { BGC_WRITE_API_BATCH_IN_FLIGHT: '1' });
    const api = client(server.url);
    const ann = await signUp(api, 'Ann');
    const bob = await signUp(api, 'Bob');
    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    await admin.query(`SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())`, [slot]);

    // 40 sends at once: Ann's, Bob's (not a member), one with a NUL (Postgres refuses it), and the same text twice
    const sends = Array.from({ length: 40 }, (_, i) => {
      const kind = i === 13 ? 'nul' : i % 7 === 3 ? 'outsider' : 'member';
      const content = kind === 'nul' ? 'bad \u0000 byte' : i === 21 || i === 22 ? 'same text' : `message ${i}`;
      return { i, kind, content, traceId: crypto.randomBytes(16).toString('hex') };
    });
    const replies = await Promise.all(
      sends.map((s) =>
        api.post<{ id: string; content: string; senderId: string; error?: { code: string } }>(
          `/v1/rooms/${room.body.id.toUpperCase()}/messages`,
          { content: s.content },
          { token: s.kind === 'outsider' ? bob.token : ann.token, headers: { traceparent: traceparentOf(s.traceId) } },
        ),
      ),
    );

    const sent = new Map<string, (typeof sends)[number]>();
    sends.forEach((s, k) => {
      const reply = replies[k];
      if (s.kind === 'member') {
        expect(reply?.status, `send ${s.i}`).toBe(201);
        expect(reply?.body.content).toBe(s.content);
        expect(reply?.body.senderId).toBe(ann.id);
        expect(reply?.headers.get('commit-lsn')).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
        sent.set(reply?.body.id ?? '', s);
      } else if (s.kind === 'outsider') {
        expect(reply?.status, `send ${s.i}`).toBe(403);
      } else {
        expect(reply?.status, `send ${s.i}`).toBe(400);
        expect(reply?.body.error?.code).toBe('INVALID_VALUE');
      }
    });
    const members = sends.filter((s) => s.kind === 'member');
    expect(sent.size).toBe(members.length); // distinct ids: the two equal texts got a row each

    // exactly those rows, nothing twice, nothing from the refused sends
    const rows = await admin.query<{ id: string }>('SELECT id FROM messages WHERE room_id = $1', [room.body.id]);
    expect(rows.rows.map((r) => r.id).sort()).toEqual([...sent.keys()].sort());

    // they were batched: fewer statements than sends
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const count = Number(/write_api_batch_size_count\{[^}]*\} (\d+)/.exec(metrics)?.[1]);
    const singles = Number(/write_api_batch_size_bucket\{le="1"[^}]*\} (\d+)/.exec(metrics)?.[1]);
    expect(count).toBeGreaterThan(0);
    expect(singles).toBeLessThan(count);

    // in the WAL each row comes right after its own request's trace message; refused sends emitted nothing
    const changes = await admin.query<{ xid: string; data: string }>(
      `SELECT xid::text, data FROM pg_logical_slot_get_changes($1, NULL, NULL)`,
      [slot],
    );
    const wal = changes.rows.map((c) => c.data).filter((d) => !d.startsWith('BEGIN') && !d.startsWith('COMMIT'));
    const inserts = wal.flatMap((d, k) => (/table public\.messages\w*: INSERT/.test(d) ? [k] : []));
    expect(inserts).toHaveLength(members.length);
    for (const k of inserts) {
      const id = /id\[uuid\]:'([0-9a-f-]+)'/.exec(wal[k] ?? '')?.[1] ?? '';
      expect(wal[k - 1], `trace message before ${id}`).toContain(
        `content:${traceparentOf(sent.get(id)?.traceId ?? '?').slice(0, 36)}`,
      );
    }
    const traceMessages = wal.filter((d) => d.includes('prefix: otel.traceparent'));
    expect(traceMessages).toHaveLength(members.length);
    const batchedTxns = new Set(
      changes.rows.filter((c) => /table public\.messages\w*: INSERT/.test(c.data)).map((c) => c.xid),
    );
    expect(batchedTxns.size).toBeLessThan(members.length);
    await admin.query('SELECT pg_drop_replication_slot($1)', [slot]);
  });

  test('under load statements start at most one interval apart and carry what gathered; a lone send leaves at once', async () => {
    await using ctx = await openTestContext('wapi-interval', { migrated: true });
    const intervalMs = 1500;
    await using server = await startWriteApi(ctx, {
      BGC_WRITE_API_BATCH_INTERVAL_MS: String(intervalMs),
      BGC_WRITE_API_BATCH_IN_FLIGHT: '2',
    });
    const api = client(server.url);
    const ann = await signUp(api, 'Ann');
    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    const send = (content: string) => api.post(`/v1/rooms/${room.body.id}/messages`, { content }, { token: ann.token });
    const batches = async () => {
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const value = (name: string) =>
        Number(new RegExp(`write_api_batch_size_${name}\\{[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
      return { count: value('count'), sum: value('sum') };
    };

    // the first send after a pause does not wait for the interval
    const first = performance.now();
    expect((await send('first')).status).toBe(201);
    expect(performance.now() - first).toBeLessThan(intervalMs);
    // six sends right behind it wait for the interval to pass, although a statement slot is free, and leave together
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => send(`gathered ${i}`)));
    expect(replies.map((r) => r.status)).toEqual(Array.from({ length: 6 }, () => 201));
    expect(performance.now() - first).toBeGreaterThanOrEqual(intervalMs - 5);
    expect(await batches()).toEqual({ count: 2, sum: 7 });

    // once the interval has passed with nothing sent, a send leaves at once again
    await new Promise((r) => setTimeout(r, intervalMs));
    const lone = performance.now();
    expect((await send('after a pause')).status).toBe(201);
    expect(performance.now() - lone).toBeLessThan(intervalMs);
    expect(await batches()).toEqual({ count: 3, sum: 8 });
  });

  test('a batch is sent as literals (one round trip with its commit position); Postgres reads back every value as sent', async () => {
    await using ctx = await openTestContext('wapi-literals', { migrated: true });
    const db = await ctx.pg('primary');
    const tricky = [
      'plain',
      '',
      ' spaces ',
      'quote " and \' and \\ backslash \\\\ two',
      '{braces, commas}',
      'NULL',
      'new\nline\ttab',
      'émoji 🎲 and ünïcode',
      "$1 $2::uuid[] '); DROP TABLE messages; --",
      "E'\\x00'",
      null,
    ];
    const { rows } = await db.query<{ v: (string | null)[] }>(`SELECT ${arrayLiteral(tricky)}::text[] AS v`);
    expect(rows[0]?.v).toEqual(tricky);
    // a NUL cannot be in a Postgres text: refused as a NUL parameter is (invalid byte sequence, 22021)
    await expect(db.query(`SELECT ${arrayLiteral(['a\u0000b'])}::text[]`)).rejects.toMatchObject({ code: '22021' });
    expect(() => arrayLiteral([{ not: 'a scalar' }])).toThrow(TypeError);
  });
});
