/**
 * Write-through: after a transaction commits, the rows a user must see at once (their own profile and counts, their
 * room and conversation memberships) are written to the Redis projections before the answer leaves, with the projector's own
 * rules (`@bgc/cache/projections`) and guarded scripts. So:
 *  - the bytes are the projector's: rows are read back with the CDC's type parsers (`changeEventTypes`) and turned
 *    into writes by `projectEvent` from a change event made here;
 *  - a document part carries its row's `version`, so the projector's later event for the same row is a no-op and a
 *    newer one still wins;
 *  - a membership is versioned by a change event's sequence (commit LSN, index). The exact commit LSN is not known
 *    here, so write-through uses a position known to be *before* this commit (the transaction's trace message, or
 *    the insert position read inside it): any event of an older transaction that lands later is older still, and
 *    this transaction's own event (same value, later sequence) and every newer one still apply. Never newer than
 *    the truth, so it can never hide a change.
 * The keys it changed are published on the projector's invalidation channel (`@bgc/cache/invalidation`): the
 * projector's own event is then a no-op and announces nothing.
 * A failure here never fails the request (the write is committed) and loses nothing: the projector converges from
 * the change event, as it does when this process dies between commit and cache write.
 */
import type pg from 'pg';
import type { Keyspace } from '@bgc/cache/keys';
import { changedKeys, publishInvalidations, recordingKeys } from '@bgc/cache/invalidation';
import { projectEvent } from '@bgc/cache/projections';
import { queueWrite } from '@bgc/cache/queue-write';
import type { WriteSettings } from '@bgc/cache/queue-write';
import type { ScriptedCluster, ScriptedRedis } from '@bgc/cache/scripts';
import { writeBatch } from '@bgc/cache/scripts';
import type { ChangeEvent, Row } from '@bgc/events/envelope';
import { lsnToBigInt } from '@bgc/events/envelope';
import { changeEventTypes } from '@bgc/events/pg-values';
import type { Logger } from '@bgc/telemetry/logger';

/** A row to write through, by table and key. */
export type CacheTarget =
  | { table: 'users'; id: string }
  | { table: 'profiles'; userId: string }
  | { table: 'user_counts'; userId: string }
  | { table: 'room_members'; roomId: string; userId: string }
  | { table: 'conversation_participants'; conversationId: string; userId: string };

/** Columns never written to Redis (the CDC publication leaves them out too: prisma/migrations, users' column list). */
const UNPUBLISHED: Record<string, readonly string[]> = { users: ['password_hash'] };

const READ: Record<CacheTarget['table'], string> = {
  users: 'SELECT * FROM users WHERE id = $1',
  profiles: 'SELECT * FROM profiles WHERE user_id = $1',
  user_counts: 'SELECT * FROM user_counts WHERE user_id = $1',
  room_members: 'SELECT * FROM room_members WHERE room_id = $1 AND user_id = $2',
  conversation_participants: 'SELECT * FROM conversation_participants WHERE conversation_id = $1 AND user_id = $2',
};

/** The row's key as Postgres prints it (uuids in lower case, as in change events and so in Redis keys). */
function keyOf(target: CacheTarget): { params: string[]; key: Row } {
  const t = Object.fromEntries(
    Object.entries(target).map(([k, v]) => [k, k === 'table' ? v : v.toLowerCase()]),
  ) as CacheTarget;
  switch (t.table) {
    case 'users':
      return { params: [t.id], key: { id: t.id } };
    case 'profiles':
    case 'user_counts':
      return { params: [t.userId], key: { user_id: t.userId } };
    case 'room_members':
      return { params: [t.roomId, t.userId], key: { room_id: t.roomId, user_id: t.userId } };
    case 'conversation_participants':
      return {
        params: [t.conversationId, t.userId],
        key: { conversation_id: t.conversationId, user_id: t.userId },
      };
  }
}

export interface WriteThroughOptions {
  /** the projections' key prefix: invalidations go to its channel, as the projector's do */
  keyPrefix: string;
  /** the keyspaces to write: the live generation, and the one a rebuild is building, if any */
  keyspaces: () => Keyspace[] | Promise<Keyspace[]>;
  settings: WriteSettings;
  /** gives up on Redis after this long; the projector converges */
  timeoutMs: number;
  logger: Logger;
  onOutcome?: (outcome: 'applied' | 'failed') => void;
}

export class WriteThrough {
  readonly #pool: pg.Pool;
  readonly #redis: ScriptedRedis | ScriptedCluster;
  readonly #opts: WriteThroughOptions;

  /** `redis`: the cache Redis, one server or a Cluster (`@bgc/cache/redis-client`) */
  constructor(pool: pg.Pool, redis: ScriptedRedis | ScriptedCluster, opts: WriteThroughOptions) {
    this.#pool = pool;
    this.#redis = redis;
    this.#opts = opts;
  }

  /**
   * Writes the targets' committed rows to Redis. `beforeCommitLsn`: a WAL position inside the committed transaction
   * (see the module comment). Resolves when done or given up; never rejects.
   */
  async apply(targets: readonly CacheTarget[], beforeCommitLsn: string): Promise<void> {
    if (targets.length === 0) return;
    try {
      const sequence = JSON.stringify([lsnToBigInt(beforeCommitLsn).toString(), '0']);
      const events = await this.#read(targets, sequence);
      const keyspaces = await this.#opts.keyspaces();
      const batch = recordingKeys(writeBatch(this.#redis));
      for (const keys of keyspaces) {
        for (const [table, event] of events) {
          for (const w of projectEvent(table, event, keys)) queueWrite(batch, w, this.#opts.settings);
        }
      }
      const results = await withTimeout(batch.exec(), this.#opts.timeoutMs);
      const failed = results.find(([err]) => err);
      if (failed?.[0]) throw failed[0];
      // the projector's later event for these keys changes nothing, so it publishes nothing: readers' in-process
      // caches learn of the change from here
      const changed = changedKeys(batch.queuedKeys, results);
      if (changed.length > 0) await publishInvalidations(this.#redis, this.#opts.keyPrefix, changed);
      this.#opts.onOutcome?.('applied');
    } catch (err) {
      this.#opts.onOutcome?.('failed');
      this.#opts.logger.warn({ err, targets }, 'write-through failed; the projector will bring Redis up to date');
    }
  }

  /** The committed rows as change events: `c` with the row, or `d` with the key when the row is gone. */
  async #read(targets: readonly CacheTarget[], sequence: string): Promise<[string, ChangeEvent][]> {
    const client = await this.#pool.connect();
    try {
      // timestamps rendered as the CDC renders them (its session runs in UTC)
      await client.query(`BEGIN READ ONLY; SET LOCAL TimeZone = 'UTC'`);
      const events: [string, ChangeEvent][] = [];
      for (const target of targets) {
        const { params, key } = keyOf(target);
        const { rows } = await client.query<Row>({ text: READ[target.table], values: params, types: changeEventTypes });
        const row = rows[0];
        if (row) for (const column of UNPUBLISHED[target.table] ?? []) delete row[column];
        events.push([target.table, changeEvent(row ? 'c' : 'd', row ?? key, sequence)]);
      }
      await client.query('COMMIT');
      return events;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

/** What `projectEvent` reads of an event: op, the row, and the sequence (memberships). */
function changeEvent(op: 'c' | 'd', row: Row, sequence: string): ChangeEvent {
  return {
    op,
    before: op === 'd' ? row : null,
    after: op === 'd' ? null : row,
    source: {
      version: 'write-through',
      connector: 'postgresql',
      name: '',
      ts_ms: Date.now(),
      snapshot: 'false',
      db: '',
      sequence,
      schema: 'public',
      table: '',
      txId: null,
      lsn: null,
      xmin: null,
    },
    ts_ms: Date.now(),
    transaction: null,
  };
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
