/** Status updates: post, edit, delete your own. */
import { z } from 'zod';
import { forbidden, notFound } from '../errors.ts';
import type { AnyRoute } from '../http.ts';
import { route, uuid } from '../http.ts';
import { presentStatus } from '../present.ts';
import type { Tx } from '../write-tx.ts';

const params = z.strictObject({ statusId: uuid('statusId') });
const content = z.string().trim().min(1, { error: 'content must not be empty' }).max(5000);
const visibility = z.enum(['PUBLIC', 'FRIENDS']);

async function ownStatus(tx: Tx, statusId: string, userId: string) {
  const found = await tx.statusUpdate.findFirst({ where: { id: statusId } });
  if (!found) throw notFound('status update', 'statusId');
  if (found.authorId !== userId) throw forbidden('NOT_YOURS', 'only the author may change a status update');
  return { id_createdAt: { id: found.id, createdAt: found.createdAt } };
}

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
      const where = await ownStatus(tx, params.statusId, userId);
      const status = await tx.statusUpdate.update({ where, data: body });
      return { status: 200, body: presentStatus(status) };
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
      await tx.statusUpdate.delete({ where: await ownStatus(tx, params.statusId, userId) });
      return { status: 204, body: null };
    },
  }),
];
