import { describe, expect, test } from 'vitest';
import { keyspace } from '@bgc/cache/keys';
import { FRONT_PAGE_THREADS } from '@bgc/cache/projections';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { client, signUp } from '../../write-api/test/client.ts';
import { startPipeline, startReadApi } from './processes.ts';

interface Thread {
  id: string;
  title: string;
  author: { id: string; name: string };
  postCount: number;
  lastPostAt: string;
  createdAt: string;
}
interface Page {
  items: Thread[];
  hasNext: boolean;
  next: string | null;
}

describe('read-api: forum category front pages from the projector', () => {
  test('filled once from the database, then from Redis; a reply, a title edit and a delete show on it', async () => {
    await using ctx = await openTestContext('rapi-forum-front', { migrated: true });
    await using pipeline = await startPipeline(ctx);
    await using reader = await startReadApi(ctx);
    const api = client(pipeline.writeApi.url);
    const read = client(reader.url);
    const ann = await signUp(api, 'Ann');
    const db = await ctx.connectAs('migrator');
    const category = (
      await db.query<{ id: string }>(`INSERT INTO forum_categories (slug, name) VALUES ('go', 'Go') RETURNING id`)
    ).rows[0]?.id;
    // more threads than a front page holds, so it is trusted only down to its floor
    await db.query(
      `INSERT INTO forum_threads (category_id, author_id, title, last_post_at)
       SELECT $1, $2, 'Thread ' || i, now() - i * interval '1 minute' FROM generate_series(1, $3::int) i`,
      [category, ann.id, FRONT_PAGE_THREADS + 30],
    );
    const truth = async (limit: number) =>
      (
        await db.query<{ id: string; title: string }>(
          `SELECT id, title FROM forum_threads WHERE category_id = $1 ORDER BY last_post_at DESC, id DESC LIMIT $2`,
          [category, limit],
        )
      ).rows;
    const firstPage = async () => {
      const r = await read.get<Page>(`/v1/forum/categories/${category}/threads?limit=10`, { token: ann.token });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return { page: r.body, cache: r.headers.get('cache') };
    };
    const matchesTruth = async (page: Page) => {
      const expected = await truth(10);
      return (
        JSON.stringify(page.items.map((t) => [t.id, t.title])) === JSON.stringify(expected.map((t) => [t.id, t.title]))
      );
    };

    const miss = await firstPage();
    expect(miss.cache).toBe('miss');
    expect(await matchesTruth(miss.page)).toBe(true);
    // the projector may still be applying the inserts' events: each cancels a fill that read before it
    const keys = keyspace(ctx.redisPrefix);
    await eventually('a fill to stick', async () => {
      await firstPage();
      return (await ctx.redis().zcard(keys.forumFront(category ?? ''))) === FRONT_PAGE_THREADS + 1 ? true : undefined;
    });
    const hit = await firstPage();
    expect(hit.cache).toBe('hit');
    expect(hit.page).toEqual(miss.page); // the same answer, field for field, from Redis

    // a reply in a thread far below the front page brings it to the top, through the write API, CDC and projector
    const old = (await truth(FRONT_PAGE_THREADS + 20)).at(-1)?.id;
    const reply = await api.post(`/v1/forum/threads/${old}/posts`, { content: 'still open?' }, { token: ann.token });
    expect(reply.status).toBe(201);
    const bumped = await eventually('the reply to reach the front page', async () => {
      const r = await firstPage();
      return r.page.items[0]?.id === old ? r : undefined;
    });
    expect(bumped.cache).toBe('hit');
    expect(bumped.page.items[0]?.postCount).toBe(1);
    expect(await matchesTruth(bumped.page)).toBe(true);

    // a title edit on the page, and a delete of another thread on it
    const [, second, third] = await truth(3);
    await db.query(`UPDATE forum_threads SET title = 'Renamed' WHERE id = $1`, [second?.id]);
    await db.query(`DELETE FROM forum_threads WHERE id = $1`, [third?.id]);
    const edited = await eventually('the edit and the delete to reach the front page', async () => {
      const r = await firstPage();
      return r.page.items[1]?.title === 'Renamed' && !r.page.items.some((t) => t.id === third?.id) ? r : undefined;
    });
    expect(edited.cache).toBe('hit');
    expect(await matchesTruth(edited.page)).toBe(true);

    // dropped from Redis (evicted), it is filled again on the next read
    await ctx.redis().del(keys.forumFront(category ?? ''));
    const refilled = await firstPage();
    expect(refilled.cache).toBe('miss');
    expect(refilled.page).toEqual(edited.page);
    expect((await firstPage()).cache).toBe('hit');
  });
});
