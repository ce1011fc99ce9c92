/**
 * Key names of the Redis projections. Every key a write script touches shares one hash tag (`{u:<id>}`,
 * `{room:<id>}`, `{conv:<id>}`, `{forum:<id>}`), so each script runs on one Redis Cluster slot. `prefix` (tests, and the
 * generations of a rebuild) goes outside the tag.
 */
export interface Keyspace {
  /** user + profile document: hash of versioned parts */
  profile(userId: string): string;
  /** the user's friends: hash `<userId>>` (their row) / `<userId><` (the friend's row) → versioned membership */
  friends(userId: string): string;
  followers(userId: string): string;
  following(userId: string): string;
  /** users this user blocked */
  blocks(userId: string): string;
  /** rooms the user is a member of: hash roomId → versioned membership (with the role) */
  rooms(userId: string): string;
  roomMembers(roomId: string): string;
  /** conversations the user takes part in: hash conversationId → versioned membership */
  conversations(userId: string): string;
  conversationMembers(conversationId: string): string;
  /** newest messages of a room: sorted set of ids by creation time, bodies in `roomBodies` */
  roomRecent(roomId: string): string;
  roomBodies(roomId: string): string;
  conversationRecent(conversationId: string): string;
  conversationBodies(conversationId: string): string;
  /**
   * A forum category's front page (`front-page.ts`): sorted set of thread ids by last activity with its `~floor`,
   * thread rows in `forumFrontBodies`, the fill's lease in `forumFrontLease`.
   */
  forumFront(categoryId: string): string;
  forumFrontBodies(categoryId: string): string;
  forumFrontLease(categoryId: string): string;
}

export function keyspace(prefix = ''): Keyspace {
  return {
    profile: (id) => `${prefix}{u:${id}}:profile`,
    friends: (id) => `${prefix}{u:${id}}:friends`,
    followers: (id) => `${prefix}{u:${id}}:followers`,
    following: (id) => `${prefix}{u:${id}}:following`,
    blocks: (id) => `${prefix}{u:${id}}:blocks`,
    rooms: (id) => `${prefix}{u:${id}}:rooms`,
    roomMembers: (id) => `${prefix}{room:${id}}:members`,
    conversations: (id) => `${prefix}{u:${id}}:conversations`,
    conversationMembers: (id) => `${prefix}{conv:${id}}:members`,
    roomRecent: (id) => `${prefix}{room:${id}}:recent`,
    roomBodies: (id) => `${prefix}{room:${id}}:bodies`,
    conversationRecent: (id) => `${prefix}{conv:${id}}:recent`,
    conversationBodies: (id) => `${prefix}{conv:${id}}:bodies`,
    forumFront: (id) => `${prefix}{forum:${id}}:front`,
    forumFrontBodies: (id) => `${prefix}{forum:${id}}:front:bodies`,
    forumFrontLease: (id) => `${prefix}{forum:${id}}:front:lease`,
  };
}
