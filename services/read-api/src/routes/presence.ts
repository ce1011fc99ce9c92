/**
 * Presence: who is online. A heartbeat (`PUT /v1/presence`) marks the signed-in user online for the presence TTL,
 * written straight to the store Redis (not through CDC: it is not in Postgres at all), one key per user with PX,
 * so going offline is the key expiring and needs no sweeper. Keys are hash-tagged by user; a read of many users is
 * one pipelined round trip (on a Redis Cluster, per node).
 */
import { z } from 'zod';
import { ApiError } from '@bgc/http-api/api-error';
import type { AnyRoute } from '../http.ts';
import { route } from '../http.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_USERS = 100;

export const presenceRoutes: AnyRoute[] = [
  route({
    method: 'put',
    path: '/v1/presence',
    summary: 'Heartbeat: you are online until the presence TTL passes without another',
    responses: { 204: 'recorded' },
    handler: async ({ read, services }) => {
      const ttl = services.settings.presenceTtlMs;
      await services.store.set(services.aside.presence(read.viewerId), String(Date.now()), 'PX', ttl);
      return { status: 204, body: null };
    },
  }),
  route({
    method: 'get',
    path: '/v1/presence',
    summary: 'Which of these users are online (with when they last said so)',
    query: z.strictObject({
      userIds: z
        .string()
        .min(1)
        .openapi({ description: `up to ${MAX_USERS} user ids, separated by commas`, example: 'a1…,b2…' }),
    }),
    responses: { 200: '{ online: [{ userId, lastSeenAt }] }' },
    handler: async ({ query, services }) => {
      const ids = [...new Set(query.userIds.split(',').map((s) => s.trim().toLowerCase()))];
      if (ids.length > MAX_USERS || ids.some((id) => !UUID.test(id))) {
        throw new ApiError(400, 'VALIDATION_FAILED', `userIds must be up to ${MAX_USERS} UUIDs separated by commas`, {
          field: 'userIds',
        });
      }
      const pipeline = services.store.pipeline();
      for (const id of ids) pipeline.get(services.aside.presence(id));
      const seen = (await pipeline.exec()) ?? [];
      const online = ids.flatMap((userId, i) => {
        const [err, at] = seen[i] ?? [null, null];
        if (err) throw err;
        return typeof at === 'string' ? [{ userId, lastSeenAt: new Date(Number(at)).toISOString() }] : [];
      });
      return { body: { online } };
    },
  }),
];
