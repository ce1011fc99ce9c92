/**
 * Key names of the precomputed home feeds (feed-builder, issue 6). Feeds live in the store Redis (never evicts);
 * status bodies in the cache Redis beside the projections (evicting: the replica refills them). Every key of one
 * user's feed shares the hash tag `{u:<id>}` (the feed, its guards, its lease, its pulled authors), so each feed
 * script runs on one Redis Cluster slot; `prefix` (tests) goes outside the tag.
 */
export interface FeedKeyspace {
  /** sorted set: member `<statusId>:<authorId>`, score the creation time in microseconds (`feed-score.ts`) */
  feed(userId: string): string;
  /**
   * hash: statusId → `<sequence, 30 digits>+` (in the feed) or `…-` (removed; a status added to a built feed has no
   * field of its own, see `feed-lua.ts`), `@built` → the sequence the feed was built at (the feed exists, complete,
   * only while `@built` does), `@trimmed` once entries left it at its cap
   */
  guards(userId: string): string;
  /** the lease of a rebuild in progress (SET NX PX): the read API answers `partial` while it stands */
  building(userId: string): string;
  /** the user is not active: no feed is kept, the read API reads the database (short-lived marker) */
  inactive(userId: string): string;
  /**
   * hash: authorId → `<sequence>|f` (friend) / `<sequence>|p` (follower) / `<sequence>-`: the pulled
   * (high-follower) authors whose posts this user's feed merges at read time
   */
  pulls(userId: string): string;
  /** a pulled author's newest posts: sorted set of status ids by creation time (microseconds) */
  authorPosts(authorId: string): string;
  /** their bodies: statusId → `<version>|<row json>`, `~` once deleted (the projector's capped-list shape) */
  authorPostBodies(authorId: string): string;
  /** hash of pulled authors → when they were pulled (ms); never hash-tagged: read by single-key commands only */
  pulledAuthors(): string;
  /** list of user ids whose feed the read API asked to be rebuilt */
  rebuildRequests(): string;
}

export function feedKeyspace(prefix = ''): FeedKeyspace {
  return {
    feed: (id) => `${prefix}{u:${id}}:feed`,
    guards: (id) => `${prefix}{u:${id}}:feed:guards`,
    building: (id) => `${prefix}{u:${id}}:feed:building`,
    inactive: (id) => `${prefix}{u:${id}}:feed:inactive`,
    pulls: (id) => `${prefix}{u:${id}}:feed:pulls`,
    authorPosts: (id) => `${prefix}{u:${id}}:posts`,
    authorPostBodies: (id) => `${prefix}{u:${id}}:posts:bodies`,
    pulledAuthors: () => `${prefix}feed:pulled`,
    rebuildRequests: () => `${prefix}feed:rebuild`,
  };
}

/** A status update's body in the cache Redis: the projector's versioned document (part `s`, version `v`). */
export const statusBodyKey = (prefix: string, statusId: string) => `${prefix}{status:${statusId}}:body`;
export const STATUS_BODY = { versionField: 'v', payloadField: 's' } as const;
