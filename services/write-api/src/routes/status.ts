/** Status updates: post, edit, delete your own. */
import { z } from 'zod';
import { forbidden, notFound } from '@bgc/http-api/api-error';
import type { AnyRoute } from '../http.ts';
import { route, uuid } from '../http.ts';
import { presentStatus } from '../present.ts';
import type { Tx } from '../write-tx.ts';

const params = z.strictObject({ statusId: uuid('statusId') });
const content = z.string().trim().min(1, { error: 'content must not be empty' }).max(5000);
const visibility = z.enum(['PUBLIC', 'FRIENDS']);

/** Nothing matched "this id, written by you": say which half failed. */
async function whyNotMine(tx: Tx, statusId: string): Promise<never> {
  const exists = await tx.$queryRaw<unknown[]>`SELECT 1 FROM status_updates WHERE id = ${statusId}::uuid`;
  if (exists.length === 0) throw notFound('status update', 'statusId');
  throw forbidden('NOT_YOURS', 'only the author may change a status update');
}

interface StatusRow {
  id: string;
  created_at: Date;
  author_id: string;
  content: string;
  visibility: 'PUBLIC' | 'FRIENDS';
  updated_at: Date;
  version: bigint;
}

const presentRow = (r: StatusRow) => ({
  id: r.id,
  createdAt: r.created_at,
  authorId: r.author_id,
  content: r.content,
  visibility: r.visibility,
  updatedAt: r.updated_at,
  version: Number(r.version),
});

export const statusRoutes: AnyRoute[] = [
  route({
    method: 'post',
    path: '/v1/status',
    summary: 'Post a status update (PUBLIC, or FRIENDS for your friends only)',
    auth: true,
    body: z.strictObject({ content, visibility: visibility.default('PUBLIC') }),
    responses: { 201: 'posted' },
    handler: async ({ body, userId, tx }) => {
      const status = await tx.statusUpdate.create({ data: { authorId: userId, ...body } });
      return { status: 201, body: presentStatus(status) };
    },
  }),
  route({
    method: 'patch',
    path: '/v1/status/:statusId',
    summary: 'Edit your status update',
    auth: true,
    params,
    body: z.strictObject({ content: content.optional(), visibility: visibility.optional() }),
    responses: { 200: 'edited', 403: 'NOT_YOURS', 404: 'no such status update' },
    handler: async ({ params, body, userId, tx }) => {
      // by id alone (the partition key is not the client's to know); unset fields keep their value
      const [row] = await tx.$queryRaw<StatusRow[]>`
        UPDATE status_updates
           SET content = coalesce(${body.content ?? null}, content),
               visibility = coalesce(${body.visibility ?? null}::visibility, visibility)
         WHERE id = ${params.statusId}::uuid AND author_id = ${userId}::uuid
        RETURNING id, created_at, author_id, content, visibility, updated_at, version`;
      if (!row) await whyNotMine(tx, params.statusId);
      return { status: 200, body: presentRow(row as StatusRow) };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/status/:statusId',
    summary: 'Delete your status update',
    auth: true,
    params,
    responses: { 204: 'deleted', 403: 'NOT_YOURS', 404: 'no such status update' },
    handler: async ({ params, userId, tx }) => {
      const deleted = await tx.$executeRaw`
        DELETE FROM status_updates WHERE id = ${params.statusId}::uuid AND author_id = ${userId}::uuid`;
      if (deleted === 0) await whyNotMine(tx, params.statusId);
      return { status: 204, body: null };
    },
  }),
];
