/**
 * Status bodies for feed pages: the feed builder's versioned body in the cache Redis (`{status:<id>}:body`), with
 * the in-process L1 in front of it and the replica behind it. A feed page asks for up to `limit + 1` bodies, and the
 * same recent posts sit in many readers' feeds, so the L1 answers most of them without a round trip.
 *
 * The L1 stays honest the way it does for profiles: the feed builder publishes every body key it changes (an edit,
 * a delete) on the invalidation channel once Redis has it, each read API process drops it, and a fill that raced
 * with that message is cancelled (`reserve`/`fill`). A deleted body is held as `{ deleted: true }`: a status is never
 * undeleted. A body missing from Redis is read from the replica and written back with the builder's own guarded
 * write, so a fill never overwrites a newer version.
 */
import { STATUS_BODY, statusBodyKey } from '@bgc/cache/feed-keys';
import { microsToTime } from '@bgc/cache/feed-score';
import type { L1Cache } from '@bgc/cache/l1-cache';
import { hashesAcrossTags } from '@bgc/cache/redis-client';
import type { ScriptedCluster, ScriptedRedis } from '@bgc/cache/scripts';
import { writeBatch } from '@bgc/cache/scripts';
import { rowVersion } from '@bgc/cache/versions';
import { statusesByKeys } from '@bgc/queries/feeds';
import { run } from '@bgc/queries/query';
import type { CacheOutcome } from './metrics.ts';
import type { ReadContext } from './read-context.ts';

export type StatusBody = Record<string, unknown>;

/** What a feed page needs to find a body: its id and creation time (the table's key), where to put it. */
export interface BodySlot {
  id: string;
  micros: number;
  body?: StatusBody;
}

/** How long a body lives in Redis after a fill (the builder writes its own with its TTL). */
const FILL_TTL_MS = 86_400_000;
const DELETED: StatusBody = Object.freeze({ deleted: true });

/** `l1+redis`: the L1, then Redis; `redis`: Redis only (the replica behind either) */
export type BodyMode = 'l1+redis' | 'redis';

export class StatusBodies {
  readonly #redis: ScriptedRedis | ScriptedCluster;
  readonly #l1: L1Cache;
  readonly #prefix: string;
  readonly #onLookups: (outcome: CacheOutcome, n: number) => void;

  constructor(opts: {
    redis: ScriptedRedis | ScriptedCluster;
    l1: L1Cache;
    /** the feed builder's key prefix */
    prefix: string;
    onLookups: (outcome: CacheOutcome, n: number) => void;
  }) {
    this.#redis = opts.redis;
    this.#l1 = opts.l1;
    this.#prefix = opts.prefix;
    this.#onLookups = opts.onLookups;
  }

  /** Gives every slot without a body its body (`{ deleted: true }` for a status that is gone). */
  async fill(read: ReadContext, slots: BodySlot[], mode: BodyMode): Promise<void> {
    const asked: { slot: BodySlot; key: string; reservation: number | undefined }[] = [];
    let l1Hits = 0;
    for (const slot of slots) {
      if (slot.body) continue;
      const key = statusBodyKey(this.#prefix, slot.id);
      if (mode === 'l1+redis') {
        const held = this.#l1.get(key) as StatusBody | undefined;
        if (held) {
          slot.body = held;
          l1Hits += 1;
          continue;
        }
      }
      asked.push({ slot, key, reservation: mode === 'l1+redis' ? this.#l1.reserve(key) : undefined });
    }
    if (l1Hits > 0) this.#onLookups('l1_hit', l1Hits);
    if (asked.length === 0) return;
    try {
      const cached = await hashesAcrossTags(
        this.#redis,
        asked.map((a) => a.key),
      );
      const toRead: typeof asked = [];
      asked.forEach((a, i) => {
        const hash = cached[i] ?? {};
        const payload = hash[STATUS_BODY.payloadField];
        if (hash.deleted !== undefined) a.slot.body = DELETED;
        else if (payload) a.slot.body = JSON.parse(payload) as StatusBody;
        else {
          toRead.push(a);
          return;
        }
        // what Redis holds may go to L1 (a reservation an invalidation cancelled stores nothing)
        const bytes = a.key.length + 64 + (payload?.length ?? 0);
        if (a.reservation !== undefined) this.#l1.fill(a.key, a.reservation, a.slot.body, bytes);
      });
      if (asked.length > toRead.length) this.#onLookups('hit', asked.length - toRead.length);
      if (toRead.length > 0) {
        this.#onLookups('miss', toRead.length);
        await this.#fromDatabase(read, toRead);
      }
    } finally {
      for (const a of asked) if (a.reservation !== undefined) this.#l1.release(a.key, a.reservation);
    }
  }

  /** Reads the rows from the replica and writes them back with the builder's guarded write; not put in L1. */
  async #fromDatabase(read: ReadContext, asked: { slot: BodySlot; key: string }[]): Promise<void> {
    const rows = await run(await read.db(), statusesByKeys, [
      asked.map((a) => a.slot.id),
      asked.map((a) => microsToTime(a.slot.micros)),
    ]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    // a script call per body's tag on a cluster (`writeBatch`), the whole fill in one or a few on one server
    const fill = writeBatch(this.#redis);
    const { versionField, payloadField } = STATUS_BODY;
    for (const { slot, key } of asked) {
      const r = byId.get(slot.id);
      if (!r) {
        slot.body = DELETED; // gone from the database: the feed drops it soon
        continue;
      }
      const body = { ...r, version: Number(r.version) };
      slot.body = body;
      fill.putPart(key, versionField, payloadField, rowVersion(r.version), JSON.stringify(body), FILL_TTL_MS);
    }
    await fill.exec();
  }
}
