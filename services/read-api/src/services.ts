/** What the route handlers use, built once by the service (`service.ts`) and handed to every request. */
import type { CacheAside } from '@bgc/cache/cache-aside';
import type { Keyspace } from '@bgc/cache/keys';
import type { ScriptedCluster, ScriptedRedis } from '@bgc/cache/scripts';
import type { Redis } from 'ioredis';
import type { AsideKeys } from './cache-keys.ts';
import type { Routing } from './db.ts';
import type { Flags } from './flags.ts';
import type { CacheOutcome, Metrics } from './metrics.ts';
import type { ProfileStore } from './profiles.ts';
import type { StatusBodies } from './status-bodies.ts';
import type { Visibility } from './visibility.ts';

export interface Services {
  /** the user of a bearer token (`Authorization` header), or a 401 */
  authenticate(authorization: string | undefined): Promise<string>;
  routing: Routing;
  flags: Flags;
  /** the projector's keys */
  keys: Keyspace;
  /** the read API's own cache-aside keys */
  aside: AsideKeys;
  /**
   * the cache Redis (projections, cache-aside): one server or a Cluster, so a command or pipeline here touches keys
   * of one hash tag only; keys of several tags are read by a command each (autopipelined per node on a cluster)
   */
  redis: ScriptedRedis | ScriptedCluster;
  /** the store Redis (presence) */
  store: Redis;
  profiles: ProfileStore;
  /** status bodies of feed pages (L1, the cache Redis, the replica) */
  bodies: StatusBodies;
  visibility: Visibility;
  /** cache-aside for first pages (no L1: forum and search pages have no invalidations, only their TTL) */
  pages: CacheAside;
  /** cache-aside for total estimates (minutes: they are estimates) */
  estimates: CacheAside;
  metrics: Metrics;
  lookup(keyspace: string, outcome: CacheOutcome): void;
  settings: { presenceTtlMs: number };
  /** the feed builder's key prefix (READ_API_KEY_PREFIX): feeds in the store, status bodies in the cache */
  feedPrefix: string;
}
