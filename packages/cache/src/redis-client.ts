/**
 * The cache Redis as a client: one server, or a Redis Cluster when its nodes are given. Every key a script or a
 * pipeline touches shares a hash tag (`keys.ts`), so the same code runs on both; on a cluster, ioredis routes each
 * command by its key and autopipelines the commands of one tick per node.
 */
import { Cluster, Redis } from 'ioredis';
import type { ScriptedCluster, ScriptedRedis } from './scripts.ts';
import { registerScripts } from './scripts.ts';

export interface CacheRedisOptions {
  /** the single server's URL (used when `clusterNodes` is empty) */
  url: string;
  /** a few of the cluster's nodes (the rest are discovered); empty: the single server at `url` */
  clusterNodes: readonly { host: string; port: number }[];
  maxRetriesPerRequest: number;
  /**
   * On the single server, send the commands of one tick in one write (the cluster client always does, per node):
   * for callers that issue many small commands at once
   */
  autoPipelining?: boolean;
}

export function connectCacheRedis(opts: CacheRedisOptions): ScriptedRedis | ScriptedCluster {
  if (opts.clusterNodes.length === 0) {
    return registerScripts(
      new Redis(opts.url, {
        maxRetriesPerRequest: opts.maxRetriesPerRequest,
        lazyConnect: true,
        enableAutoPipelining: opts.autoPipelining ?? false,
      }),
    );
  }
  return registerScripts(
    new Cluster([...opts.clusterNodes], {
      enableAutoPipelining: true,
      lazyConnect: true,
      redisOptions: { maxRetriesPerRequest: opts.maxRetriesPerRequest },
    }),
  );
}

/**
 * A plain connection to one server for SUBSCRIBE: on a cluster, a message published on any node reaches the
 * subscribers of every node, so one node's connection hears them all.
 */
export function subscriberRedis(opts: CacheRedisOptions): Redis {
  const [first] = opts.clusterNodes;
  return first
    ? new Redis({
        host: first.host,
        port: first.port,
        maxRetriesPerRequest: opts.maxRetriesPerRequest,
        lazyConnect: true,
      })
    : new Redis(opts.url, { maxRetriesPerRequest: opts.maxRetriesPerRequest, lazyConnect: true });
}

/**
 * Hashes of keys on different hash tags: one pipeline on a single server (one write for all), a command each on a
 * cluster, which refuses a pipeline across slots (sent in one tick, its autopipelining groups them per node). A hash
 * the cache cannot give (it failed) comes back empty, as a missing one does.
 */
export async function hashesAcrossTags(redis: Redis | Cluster, keys: string[]): Promise<Record<string, string>[]> {
  if ('isCluster' in redis && redis.isCluster) {
    return Promise.all(keys.map((k) => redis.hgetall(k).catch((): Record<string, string> => ({}))));
  }
  const p = redis.pipeline();
  for (const k of keys) p.hgetall(k);
  const replies = (await p.exec().catch(() => null)) ?? [];
  return keys.map((_, i) => (replies[i]?.[0] ? {} : ((replies[i]?.[1] ?? {}) as Record<string, string>)));
}
