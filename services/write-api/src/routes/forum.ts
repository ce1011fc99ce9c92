/** Forum: categories (administrators), threads and posts (anyone signed in). */
import { z } from 'zod';
import { forbidden, notFound } from '@bgc/http-api/api-error';
import type { AnyRoute } from '../http.ts';
import { route, uuid } from '../http.ts';
import { presentPost, presentThread } from '../present.ts';

const postContent = z.string().trim().min(1, { error: 'content must not be empty' }).max(20_000);

export const forumRoutes: AnyRoute[] = [
  route({
    method: 'post',
    path: '/v1/forum/categories',
    summary: 'Create a forum category (administrators: "admin" in your profile roles)',
    auth: true,
    body: z.strictObject({
      slug: z.string().regex(/^[a-z0-9-]{1,64}$/, { error: 'slug is 1-64 of a-z, 0-9 and -' }),
      name: z.string().trim().min(1).max(100),
      description: z.string().max(2000).optional(),
    }),
    responses: { 201: 'created', 403: 'NOT_AN_ADMIN', 409: 'SLUG_TAKEN' },
    handler: async ({ body, userId, tx }) => {
      const admin = await tx.profile.count({ where: { userId, roles: { array_contains: ['admin'] } } });
      if (admin === 0) throw forbidden('NOT_AN_ADMIN', 'only administrators create categories');
      const category = await tx.forumCategory.create({ data: body });
      return {
        status: 201,
        body: { id: category.id, slug: category.slug, name: category.name, version: Number(category.version) },
      };
    },
  }),
  route({
    method: 'post',
    path: '/v1/forum/categories/:categoryId/threads',
    summary: 'Start a thread with its first post',
    auth: true,
    params: z.strictObject({ categoryId: uuid('categoryId') }),
    body: z.strictObject({ title: z.string().trim().min(1).max(300), content: postContent }),
    responses: { 201: 'created', 404: 'no such category' },
    handler: async ({ params, body, userId, tx }) => {
      const category = await tx.forumCategory.findUnique({ where: { id: params.categoryId }, select: { id: true } });
      if (!category) throw notFound('category', 'categoryId');
      const now = new Date();
      const thread = await tx.forumThread.create({
        data: { categoryId: category.id, authorId: userId, title: body.title, postCount: 1, lastPostAt: now },
      });
      const post = await tx.forumPost.create({
        data: { categoryId: category.id, threadId: thread.id, authorId: userId, content: body.content, createdAt: now },
      });
      return { status: 201, body: { thread: presentThread(thread), post: presentPost(post) } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/forum/threads/:threadId/posts',
    summary: 'Reply in a thread',
    auth: true,
    params: z.strictObject({ threadId: uuid('threadId') }),
    body: z.strictObject({ content: postContent }),
    responses: { 201: 'posted', 404: 'no such thread' },
    handler: async ({ params, body, userId, tx }) => {
      const now = new Date();
      // the counter and the post change together; the row lock orders concurrent replies
      const thread = await tx.forumThread
        .update({ where: { id: params.threadId }, data: { postCount: { increment: 1 }, lastPostAt: now } })
        .catch((err: unknown) => {
          throw (err as { code?: string }).code === 'P2025' ? notFound('thread', 'threadId') : err;
        });
      const post = await tx.forumPost.create({
        data: {
          categoryId: thread.categoryId,
          threadId: thread.id,
          authorId: userId,
          content: body.content,
          createdAt: now,
        },
      });
      return { status: 201, body: presentPost(post) };
    },
  }),
];
