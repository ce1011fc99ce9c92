/**
 * Forum category pages: threads by last activity, by keyset. The first page comes from the front page the projector
 * keeps (`forum-front.ts`), or, by the `cache.forum` flag, from a cache-aside entry (rolled back to) or the database.
 */
import { z } from 'zod';
import { forumCategory } from '@bgc/queries/page';
import type { ThreadRow } from '@bgc/queries/queries';
import { categoryExists } from '@bgc/queries/access';
import { estimates } from '@bgc/queries/queries';
import { run } from '@bgc/queries/query';
import { notFound } from '@bgc/http-api/api-error';
import type { AnyRoute } from '../http.ts';
import { pageQuery, route, uuid } from '../http.ts';
import { checkCursor, estimated, firstPage, iso, pageBody } from '../pages.ts';
import { forumFirstPage } from '../forum-front.ts';

const presentThread = (t: ThreadRow) => ({
  id: t.id,
  title: t.title,
  author: { id: t.author_id, name: t.author_name },
  postCount: t.post_count,
  lastPostAt: t.cursor_t,
  createdAt: iso(t.created_at),
});

export const forumRoutes: AnyRoute[] = [
  route({
    method: 'get',
    path: '/v1/forum/categories/:categoryId/threads',
    summary: 'Threads of a forum category, most recently active first, by keyset',
    params: z.strictObject({ categoryId: uuid('categoryId') }),
    query: z.strictObject(pageQuery),
    responses: { 200: 'a page of threads', 404: 'no such category' },
    handler: async ({ params, query, read, services }) => {
      checkCursor(query.cursor, 'time');
      const { categoryId } = params;
      const source = services.flags.get('cache.forum');
      const page = query.cursor
        ? await forumCategory(await read.db(), categoryId, { cursor: query.cursor, limit: query.limit })
        : source === 'front-page' && !read.fresh
          ? await forumFirstPage(services, read, categoryId, query.limit)
          : await firstPage(services, read, {
              keyspace: 'forum',
              key: services.aside.forumFirstPage(categoryId),
              enabled: source === 'cache-aside',
              limit: query.limit,
              pageOf: (db, limit) => forumCategory(db, categoryId, { limit }),
            });
      if (page.items.length === 0 && !query.cursor) {
        const [row] = await run(await read.db(), categoryExists, [categoryId]);
        if (!row?.exists) throw notFound('category', 'categoryId');
      }
      const total = await estimated(services, read, estimates.categoryThreads, [categoryId] as [string]);
      return { body: pageBody(page, presentThread, total) };
    },
  }),
];
