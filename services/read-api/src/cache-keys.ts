/**
 * Keys of what the read API caches itself (cache-aside entries), beside the projector's keyspace: each shares the
 * hash tag of the entity it belongs to, so its lease (`<key>:lease`) and it sit on one Redis Cluster slot. And the
 * map from a key the projector reports as changed to the cache-aside entries derived from it.
 */
import crypto from 'node:crypto';

export interface AsideKeys {
  /** first page of a user's friends / followers / following */
  relations(kind: 'friends' | 'followers' | 'following', userId: string): string;
  blocks(userId: string): string;
  forumFirstPage(categoryId: string): string;
  search(mode: string, value: string): string;
  estimate(name: string, params: readonly unknown[]): string;
  presence(userId: string): string;
  /**
   * The cache-aside entries to drop when the projector changed `key`: `hot` ones (blocks: read with the L1) and
   * `pages` (first pages of lists).
   */
  derivedFrom(key: string): { hot: string[]; pages: string[] };
}

const digest = (s: string) => crypto.createHash('sha256').update(s).digest('base64url').slice(0, 22);
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function asideKeys(prefix: string): AsideKeys {
  const keys: AsideKeys = {
    relations: (kind, id) => `${prefix}{u:${id}}:aside:${kind}`,
    blocks: (id) => `${prefix}{u:${id}}:aside:blocks`,
    forumFirstPage: (id) => `${prefix}{forum:${id}}:aside:threads`,
    search: (mode, value) => `${prefix}{search:${digest(`${mode}\n${value}`)}}:aside`,
    estimate: (name, params) => `${prefix}{est:${digest(`${name}\n${JSON.stringify(params)}`)}}:aside`,
    presence: (id) => `${prefix}presence:{u:${id}}`,
    derivedFrom: (key) => {
      const m = projected.exec(key);
      if (!m?.[1] || !m[2]) return { hot: [], pages: [] };
      const [, id, what] = m;
      if (what === 'blocks') return { hot: [keys.blocks(id)], pages: [] };
      return { hot: [], pages: [keys.relations(what as 'friends' | 'followers' | 'following', id)] };
    },
  };
  // a projection key of any generation (`<prefix><generation>:{…}`, or `<prefix>{…}` for the first)
  const projected = new RegExp(
    `^${escapeRegExp(prefix)}(?:[^{}:]+:)?\\{u:([0-9a-f-]{36})\\}:(friends|followers|following|blocks)$`,
  );
  return keys;
}
