/**
 * Who may see what: a user who blocks the viewer is invisible to them (404, as if absent), only members read a
 * room and only participants a conversation (403). Blocks are a cache-aside entry (with the L1), dropped when the
 * projector reports a change of the user's blocks; whether a user blocks anyone at all is in its profile document's
 * counts. Memberships come from the projector's membership hashes; anything but "present" there is asked of the
 * database (a join the projector has not applied yet, an evicted hash), so a projection can delay a refusal by its
 * lag but never refuse a member.
 */
import type { CacheAside } from '@bgc/cache/cache-aside';
import type { Keyspace } from '@bgc/cache/keys';
import type { Cluster, Redis } from 'ioredis';
import { conversationMembership, roomMembership } from '@bgc/queries/access';
import { blockedBy } from '@bgc/queries/people';
import { run } from '@bgc/queries/query';
import type { AsideKeys } from './cache-keys.ts';
import { forbidden, notFound } from '@bgc/http-api/api-error';
import type { ReadContext } from './read-context.ts';

/** `<sequence, 30 digits>|<value>` present, `<sequence>-` removed (`@bgc/cache/scripts`, SET_MEMBER). */
const isPresent = (stored: string | null) => stored !== null && stored.charAt(30) === '|';

export class Visibility {
  readonly #redis: Redis | Cluster;
  readonly #keys: Keyspace;
  readonly #aside: AsideKeys;
  readonly #cache: CacheAside;
  readonly #onBypass: (keyspace: string) => void;

  constructor(opts: {
    redis: Redis | Cluster;
    keys: Keyspace;
    aside: AsideKeys;
    cache: CacheAside;
    onBypass: (keyspace: string) => void;
  }) {
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#aside = opts.aside;
    this.#cache = opts.cache;
    this.#onBypass = opts.onBypass;
  }

  /** Whether `userId` blocks the viewer. */
  async blocksViewer(ctx: ReadContext, userId: string): Promise<boolean> {
    if (userId === ctx.viewerId) return false;
    const load = async () => (await run(await ctx.db(), blockedBy, [userId])).map((r) => r.id);
    if (ctx.fresh) {
      this.#onBypass('blocks');
      return (await load()).includes(ctx.viewerId);
    }
    const { value } = await this.#cache.get('blocks', this.#aside.blocks(userId), async () => ({
      value: await load(),
    }));
    return value?.includes(ctx.viewerId) ?? false;
  }

  async assertRoomMember(ctx: ReadContext, roomId: string): Promise<void> {
    if (!ctx.fresh && isPresent(await this.#redis.hget(this.#keys.roomMembers(roomId), ctx.viewerId))) return;
    const [row] = await run(await ctx.db(), roomMembership, [roomId, ctx.viewerId]);
    if (row?.member) return;
    if (!row?.exists) throw notFound('room', 'roomId');
    throw forbidden('NOT_A_MEMBER', 'only members of the room may read it; join it first');
  }

  async assertParticipant(ctx: ReadContext, conversationId: string): Promise<void> {
    const key = this.#keys.conversationMembers(conversationId);
    if (!ctx.fresh && isPresent(await this.#redis.hget(key, ctx.viewerId))) return;
    const [row] = await run(await ctx.db(), conversationMembership, [conversationId, ctx.viewerId]);
    if (row?.member) return;
    if (!row?.exists) throw notFound('conversation', 'conversationId');
    throw forbidden('NOT_A_PARTICIPANT', 'only participants of the conversation may read it');
  }
}
