/**
 * The one way the write API changes the database. Each write transaction:
 *  1. begins with `pg_logical_emit_message(true, 'otel.traceparent', …)` carrying the request's W3C traceparent,
 *     so the CDC service continues this trace from the WAL (the message is transactional: it exists only if the
 *     transaction commits, and it precedes the row changes);
 *  2. claims the request's Idempotency-Key inside the same transaction: a concurrent retry blocks on the key's
 *     unique index until this one commits (then replays the stored answer) or rolls back (then runs itself);
 *  3. stores the answer with the key, atomically with the writes;
 *  4. after commit, reads the WAL position, which the response carries so reads can wait for a replica that has
 *     replayed it (read-your-writes).
 * The hottest routes also have a batched one-statement form (`statement-batcher.ts`) for requests without an
 * Idempotency-Key.
 */
import crypto from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import type { Prisma } from '@bgc/db/prisma';
import type { Db } from './db.ts';
import type { WalPositionReader } from './wal-position.ts';

export type Tx = Prisma.TransactionClient;

export interface Answer {
  status: number;
  body: unknown;
}

export interface Idempotency {
  userId: string;
  key: string;
  /** method, path and body of the request: the same key with a different request is refused */
  requestHash: string;
}

export type WriteOutcome = Answer & {
  lsn: string;
  replayed: boolean;
  /** a WAL position inside the committed transaction, when asked for (`needsLsn`); see write-through.ts */
  beforeCommitLsn?: string;
};

export class IdempotencyKeyReused extends Error {}

export function requestHash(method: string, path: string, body: unknown): string {
  return crypto
    .createHash('sha256')
    .update(`${method} ${path}\n${JSON.stringify(body ?? null)}`)
    .digest('hex');
}

export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

export async function writeTx(
  prisma: Db,
  opts: {
    idempotency?: Idempotency | undefined;
    acquireTimeoutMs: number;
    positions: WalPositionReader;
    /** asked after `work`: whether the caller needs `beforeCommitLsn` */
    needsLsn?: () => boolean;
  },
  work: (tx: Tx) => Promise<Answer>,
): Promise<WriteOutcome> {
  const idem = opts.idempotency;
  const result = await prisma.$transaction(
    async (tx): Promise<Answer & { replayed: boolean; beforeCommitLsn?: string }> => {
      const traceparent = currentTraceparent();
      let beforeCommitLsn: string | undefined;
      if (traceparent) {
        const [emitted] = await tx.$queryRaw<{ lsn: string }[]>`
          SELECT pg_logical_emit_message(true, 'otel.traceparent', ${traceparent})::text AS lsn`;
        beforeCommitLsn = emitted?.lsn;
      }
      if (idem) {
        const claimed = await tx.$queryRaw<unknown[]>`
          INSERT INTO idempotency_keys (user_id, key, request_hash)
          VALUES (${idem.userId}::uuid, ${idem.key}, ${idem.requestHash})
          ON CONFLICT (user_id, key) DO NOTHING RETURNING 1`;
        if (claimed.length === 0) {
          // a committed transaction holds this key: answer as it did, write nothing
          const stored = await tx.idempotencyKey.findUniqueOrThrow({
            where: { userId_key: { userId: idem.userId, key: idem.key } },
          });
          if (stored.requestHash !== idem.requestHash) throw new IdempotencyKeyReused();
          return { status: stored.statusCode ?? 200, body: stored.response, replayed: true };
        }
      }
      const answer = await work(tx);
      if (!beforeCommitLsn && opts.needsLsn?.()) {
        const [position] = await tx.$queryRaw<{ lsn: string }[]>`SELECT pg_current_wal_insert_lsn()::text AS lsn`;
        beforeCommitLsn = position?.lsn;
      }
      if (idem) {
        await tx.idempotencyKey.update({
          where: { userId_key: { userId: idem.userId, key: idem.key } },
          data: { statusCode: answer.status, response: answer.body as Prisma.InputJsonValue },
        });
      }
      return { ...answer, replayed: false, ...(beforeCommitLsn ? { beforeCommitLsn } : {}) };
    },
    { maxWait: opts.acquireTimeoutMs, timeout: 10_000 },
  );
  // after the commit, so that a replica that has replayed this position sees every row written above
  return { ...result, lsn: await opts.positions.afterCommit() };
}
