import crypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { ChangeEvent, TransactionEvent } from '@bgc/events/envelope';
import { compareSequence, UNAVAILABLE } from '@bgc/events/envelope';
import { openTestContext } from '@bgc/testkit/context';
import { cdcNames, startCdc } from './cdc-process.ts';
import type { Received } from './topic-reader.ts';
import { readUntil } from './topic-reader.ts';

const parse = (r: Received) => (r.value === null ? null : (JSON.parse(r.value) as ChangeEvent));

describe('cdc: the WAL into Kafka as Debezium change events', () => {
  test('inserts, updates, deletes, a key change and a large value arrive in order with keys and tombstones; a rollback publishes nothing', async () => {
    await using ctx = await openTestContext('cdc-stream', { migrated: true });
    await using cdc = await startCdc(ctx);
    const { prefix } = cdcNames(ctx);
    const db = await ctx.connectAs('writer');

    const bio = crypto.randomBytes(2400).toString('hex'); // 4,800 characters, barely compressible: stored out of line (TOAST)
    const { rows: [ann] = [] } = await db.query<{ id: string }>(
      `INSERT INTO users (email, name, password_hash) VALUES ('ann@example.com', 'Ann', 'secret-hash') RETURNING id`,
    );
    if (!ann) throw new Error('no user');
    await db.query(`INSERT INTO profiles (user_id, bio) VALUES ($1, $2)`, [ann.id, bio]);
    await db.query(`UPDATE users SET name = 'Ann B' WHERE id = $1`, [ann.id]);
    // bio untouched: under REPLICA IDENTITY FULL it must still arrive whole, never as null or a placeholder
    await db.query(`UPDATE profiles SET location_city = 'Austin' WHERE user_id = $1`, [ann.id]);
    const { rows: [room] = [] } = await db.query<{ id: string }>(
      `INSERT INTO chat_rooms (name, created_by) VALUES ('lobby', $1) RETURNING id`,
      [ann.id],
    );
    if (!room) throw new Error('no room');
    await db.query('BEGIN');
    await db.query(`INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, 'OWNER')`, [room.id, ann.id]);
    const { rows: [msg] = [] } = await db.query<{ id: string; created_at: string }>(
      `INSERT INTO messages (room_id, sender_id, content) VALUES ($1, $2, 'hello') RETURNING id, created_at::text`,
      [room.id, ann.id],
    );
    await db.query('COMMIT');
    if (!msg) throw new Error('no message');
    await db.query(`DELETE FROM messages WHERE id = $1`, [msg.id]);
    await db.query('BEGIN');
    await db.query(`INSERT INTO users (email, name, password_hash) VALUES ('ghost@example.com', 'Ghost', 'x')`);
    await db.query('ROLLBACK');
    const oldCategory = crypto.randomUUID();
    const newCategory = crypto.randomUUID();
    await db.query(`INSERT INTO forum_categories (id, slug, name) VALUES ($1, 'general', 'General')`, [oldCategory]);
    await db.query(`UPDATE forum_categories SET id = $2 WHERE id = $1`, [oldCategory, newCategory]);
    await db.query(`INSERT INTO users (email, name, password_hash) VALUES ('last@example.com', 'Last', 'x')`);

    const topic = (t: string) => `${prefix}.public.${t}`;
    const records = await readUntil(
      ctx,
      ['users', 'profiles', 'messages', 'room_members', 'forum_categories', 'chat_rooms']
        .map(topic)
        .concat(`${prefix}.transaction`),
      (rs) => {
        // everything the writes above make: records per topic (10 transactions, a BEGIN and an END each)
        const want: Record<string, number> = {
          users: 3,
          profiles: 2,
          chat_rooms: 1,
          room_members: 1,
          messages: 3,
          forum_categories: 4,
        };
        const count = (t: string) => rs.filter((r) => r.topic === t).length;
        return Object.entries(want).every(([t, n]) => count(topic(t)) >= n) && count(`${prefix}.transaction`) >= 20;
      },
    );
    const of = (t: string) => records.filter((r) => r.topic === topic(t));

    // users: create then update, keyed by id; the password hash never leaves the database; no rolled-back row
    const users = of('users').filter((r) => r.key === JSON.stringify({ id: ann.id }));
    expect(users.map((r) => parse(r)?.op)).toEqual(['c', 'u']);
    const [created, updated] = users.map(parse);
    expect(created?.after).toMatchObject({ id: ann.id, email: 'ann@example.com', name: 'Ann', version: 1 });
    expect(created?.after).not.toHaveProperty('password_hash');
    expect(updated?.after).toMatchObject({ name: 'Ann B', version: 2 });
    expect(created?.source).toMatchObject({ connector: 'postgresql', name: prefix, schema: 'public', table: 'users' });
    expect(created?.source.db).toBe(ctx.database);
    expect(created?.after?.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
    expect(compareSequence(created?.source.sequence ?? '', updated?.source.sequence ?? '')).toBeLessThan(0);
    expect(of('users').some((r) => r.value?.includes('ghost@example.com'))).toBe(false);

    // the large value arrives whole in both events
    const profiles = of('profiles').map(parse);
    expect(profiles.map((e) => e?.op)).toEqual(['c', 'u']);
    expect(profiles[1]?.after?.bio).toBe(bio);
    expect(profiles[1]?.before?.bio).toBe(bio);
    expect(JSON.stringify(profiles)).not.toContain(UNAVAILABLE);

    // a message: created, deleted (the old row under FULL), then the tombstone under the same key
    const messages = of('messages');
    const key = JSON.parse(messages[0]?.key ?? '{}') as Record<string, string>;
    expect(key).toEqual({ id: msg.id, created_at: expect.stringMatching(/Z$/) as unknown });
    expect(messages.map((r) => (r.value === null ? 'tombstone' : parse(r)?.op))).toEqual(['c', 'd', 'tombstone']);
    expect(new Set(messages.map((r) => r.key)).size).toBe(1);
    expect(parse(messages[1] as Received)?.before).toMatchObject({ id: msg.id, room_id: room.id, content: 'hello' });

    // a primary-key change: delete and tombstone of the old key, then (in WAL order) a create of the new one
    const categories = of('forum_categories');
    const byKey = (id: string) => categories.filter((r) => r.key === JSON.stringify({ id }));
    expect(byKey(oldCategory).map((r) => (r.value === null ? 'tombstone' : parse(r)?.op))).toEqual([
      'c',
      'd',
      'tombstone',
    ]);
    expect(byKey(newCategory).map((r) => parse(r)?.op)).toEqual(['c']);
    const deletedAt = parse(byKey(oldCategory)[1] as Received)?.source.sequence ?? '';
    const createdAt = parse(byKey(newCategory)[0] as Received)?.source.sequence ?? '';
    expect(compareSequence(deletedAt, createdAt)).toBeLessThan(0);

    // transaction boundaries: the member + message transaction is one BEGIN/END pair counting both events
    const boundaries = records
      .filter((r) => r.topic === `${prefix}.transaction`)
      .map((r) => JSON.parse(r.value ?? '{}') as TransactionEvent);
    const end = boundaries.find(
      (b) => b.status === 'END' && b.data_collections?.some((d) => d.data_collection === 'public.room_members'),
    );
    expect(end?.event_count).toBe(2);
    expect(boundaries.filter((b) => b.id === end?.id).map((b) => b.status)).toEqual(['BEGIN', 'END']);
    const memberEvent = parse(of('room_members')[0] as Received);
    expect(memberEvent?.transaction?.id).toBe(end?.id);

    expect(await cdc.stop()).toBe(0);
  });
});
