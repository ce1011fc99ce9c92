import { describe, expect, test } from 'vitest';
import { keyspace } from '@bgc/cache/keys';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { caughtUp } from '@bgc/testkit/replica';
import type { Api, Reply } from '../../write-api/test/client.ts';
import { client, signUp } from '../../write-api/test/client.ts';
import { startPipeline, startReadApi } from './processes.ts';

interface Page {
  items: { id: string }[];
  hasNext: boolean;
  next: string | null;
  totalEstimate: number | null;
}

/** Every page of a list, following `next`, with each page's Cache header. */
async function walk(read: Api, path: string, token: string) {
  const ids: string[] = [];
  const caches: (string | null)[] = [];
  let next: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const sep = path.includes('?') ? '&' : '?';
    const r: Reply<Page> = await read.get<Page>(`${path}${next ? `${sep}cursor=${next}` : ''}`, { token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    ids.push(...r.body.items.map((i) => i.id));
    caches.push(r.headers.get('cache'));
    expect(r.body.hasNext).toBe(r.body.next !== null);
    if (!r.body.next) return { ids, caches };
    next = r.body.next;
  }
  throw new Error('more than 100 pages');
}

describe('read-api: keyset pages walk a long list without duplicates or gaps', () => {
  test('followers, search, a forum category and a room history (first page from Redis, ties within a millisecond)', async () => {
    await using ctx = await openTestContext('rapi-pages', { migrated: true });
    await using pipeline = await startPipeline(ctx);
    await using reader = await startReadApi(ctx);
    const api = client(pipeline.writeApi.url);
    const read = client(reader.url);
    const ann = await signUp(api, 'Ann');
    const db = await ctx.connectAs('migrator');

    // 130 fans follow Ann; groups of three share one created_at (the id breaks the tie)
    await db.query(`
      INSERT INTO users (id, email, name, password_hash)
      SELECT gen_random_uuid(), 'fan' || i || '@example.com', 'Fan ' || lpad(i::text, 3, '0'), 'x'
        FROM generate_series(1, 130) i`);
    await db.query(
      `INSERT INTO profiles (user_id, location_state, location_city, interests)
       SELECT id, 'TX', CASE WHEN name < 'Fan 050' THEN 'Austin' ELSE 'Dallas' END, '["chess"]'
         FROM users WHERE name LIKE 'Fan %'`,
    );
    await db.query(
      `INSERT INTO relationships (from_user_id, to_user_id, type, status, created_at)
       SELECT id, $1, 'FOLLOW', 'ACCEPTED', now() - ((row_number() OVER (ORDER BY id)) / 3) * interval '1 second'
         FROM users WHERE name LIKE 'Fan %'`,
      [ann.id],
    );
    // the rows went in directly: wait for the replica to have them, as a Commit-LSN would
    const replica = await ctx.pg('replica');
    await caughtUp(db, replica, 'the replica to catch up');
    // and for the projector to have applied the follows: each change it publishes drops Ann's cached first page
    // (and once more a second later), which would turn the second walk's hit below into a miss
    const redis = ctx.redis();
    await eventually('the projector to apply the follows', async () =>
      Object.keys(await redis.hgetall(keyspace(ctx.redisPrefix).followers(ann.id))).length === 130 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const truth = async (sql: string, params: unknown[] = []) =>
      (await db.query<{ id: string }>(sql, params)).rows.map((r) => r.id);

    const followers = await walk(read, `/v1/users/${ann.id}/followers?limit=7`, ann.token);
    expect(followers.ids).toEqual(
      await truth(
        `SELECT from_user_id AS id FROM relationships WHERE to_user_id = $1 AND type = 'FOLLOW'
          ORDER BY created_at DESC, from_user_id DESC`,
        [ann.id],
      ),
    );
    expect(followers.caches[0]).toBe('miss'); // the first page filled the cache-aside entry
    expect((await walk(read, `/v1/users/${ann.id}/followers?limit=7`, ann.token)).caches[0]).toBe('hit');

    const byName = await walk(read, '/v1/search/users?namePrefix=fAN&limit=11', ann.token);
    expect(byName.ids).toEqual(await truth(`SELECT id FROM users WHERE name LIKE 'Fan %' ORDER BY lower(name), id`));
    const inTexas = await walk(read, '/v1/search/users?state=TX&limit=9', ann.token);
    expect(inTexas.ids).toEqual(
      await truth(`SELECT user_id AS id FROM profiles WHERE location_state = 'TX' ORDER BY location_city, user_id`),
    );
    const chess = await walk(read, '/v1/search/users?interest=Chess&limit=13', ann.token);
    expect(chess.ids).toEqual(
      await truth(`SELECT user_id AS id FROM profiles WHERE interests @> '["chess"]' ORDER BY user_id`),
    );

    const category = (
      await db.query<{ id: string }>(`INSERT INTO forum_categories (slug, name) VALUES ('chess', 'Chess') RETURNING id`)
    ).rows[0]?.id;
    await db.query(
      `INSERT INTO forum_threads (category_id, author_id, title, last_post_at)
       SELECT $1, $2, 'Thread ' || i, now() - (i / 2) * interval '1 minute' FROM generate_series(1, 45) i`,
      [category, ann.id],
    );
    await caughtUp(db, replica, 'the replica to catch up');
    const threads = await walk(read, `/v1/forum/categories/${category}/threads?limit=8`, ann.token);
    expect(threads.ids).toEqual(
      await truth(`SELECT id FROM forum_threads WHERE category_id = $1 ORDER BY last_post_at DESC, id DESC`, [
        category,
      ]),
    );

    // a room of 130 messages: the newest 5 a millisecond apart, then 6 within one millisecond (their ids in no
    // particular order), then the rest a second apart
    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    await db.query(
      `INSERT INTO messages (room_id, sender_id, content, created_at)
       SELECT $1, $2, 'message ' || i,
              date_trunc('second', now()) - CASE WHEN i <= 5 THEN i * interval '1 millisecond'
                                                  WHEN i <= 11 THEN interval '7 milliseconds' - (i - 5) * interval '1 microsecond'
                                                  ELSE i * interval '1 second' END
         FROM generate_series(1, 130) i`,
      [room.body.id, ann.id],
    );
    await eventually('the recent list to fill', async () =>
      (await redis.zcard(keyspace(ctx.redisPrefix).roomRecent(room.body.id))) === 100 ? true : undefined,
    );
    await caughtUp(db, replica, 'the replica to catch up');
    const history = await walk(read, `/v1/rooms/${room.body.id}/messages?limit=9`, ann.token);
    expect(history.caches[0]).toBe('hit');
    expect(history.ids).toEqual(
      await truth(`SELECT id FROM messages WHERE room_id = $1 ORDER BY created_at DESC, id DESC`, [room.body.id]),
    );
  });
});
