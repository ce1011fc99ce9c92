-- Up Migration
-- Each user's counts (friends, followers, following, and how many users they block) as a row of its own, kept by
-- triggers in the transaction that changes a relationship. Why: a profile shows its counts, and counting them on
-- every cache miss scanned index ranges as long as the counts (a popular user's followers: 10⁵ entries); with the
-- row, CDC streams every change of the counts like any other row, and the cache projector keeps them in the
-- profile document (part `c`), so a profile is one Redis read. `blocking = 0`, most users, also spares the read API
-- the "does this user block the viewer" lookup.
--
-- The counts are what counting the relationships gives (`packages/db/src/user-counts.pg.test.ts` holds them to
-- it; `blocked_by` in `@bgc/queries/people` lists the blocks themselves): friends = ACCEPTED FRIEND rows on either
-- side, followers / following = ACCEPTED FOLLOW rows to / from the user, blocking = BLOCK rows from the user.
-- `version` rises with every change, as the projector's guarded writes need.
--
-- Locks: the triggers update the rows of both users of a relationship, in user id order, so two statements that
-- touch the same two users cannot deadlock on them. Concurrent follows of one user serialize on that user's row
-- for the rest of their (short) transactions. This migration creates the table and the triggers only (creating a
-- trigger locks its table's writes for the moment of this transaction); the rows of the users that exist are
-- filled by the next migration, in batches with short locks (`…_user_counts_backfill.ts`): until then a
-- relationship change finds no row to update, which the backfill's count, taken after it, includes.
CREATE TABLE user_counts (
  user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  friends    integer NOT NULL DEFAULT 0,
  followers  integer NOT NULL DEFAULT 0,
  following  integer NOT NULL DEFAULT 0,
  blocking   integer NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    bigint NOT NULL DEFAULT 1
);

-- What one relationship row adds to the counts of its two users (sign -1: what it takes away).
CREATE FUNCTION user_counts_of(r relationships, sign integer)
RETURNS TABLE (user_id uuid, friends integer, followers integer, following integer, blocking integer)
LANGUAGE sql IMMUTABLE AS $$
  SELECT r.from_user_id,
         CASE WHEN r.type = 'FRIEND' AND r.status = 'ACCEPTED' THEN sign ELSE 0 END,
         0,
         CASE WHEN r.type = 'FOLLOW' AND r.status = 'ACCEPTED' THEN sign ELSE 0 END,
         CASE WHEN r.type = 'BLOCK' THEN sign ELSE 0 END
  UNION ALL
  SELECT r.to_user_id,
         CASE WHEN r.type = 'FRIEND' AND r.status = 'ACCEPTED' THEN sign ELSE 0 END,
         CASE WHEN r.type = 'FOLLOW' AND r.status = 'ACCEPTED' THEN sign ELSE 0 END,
         0,
         0
$$;

CREATE FUNCTION user_counts_on_relationship() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE d record;
BEGIN
  FOR d IN
    SELECT x.user_id, sum(x.friends)::int AS friends, sum(x.followers)::int AS followers,
           sum(x.following)::int AS following, sum(x.blocking)::int AS blocking
      FROM (SELECT * FROM user_counts_of(OLD, -1) WHERE TG_OP <> 'INSERT'
            UNION ALL
            SELECT * FROM user_counts_of(NEW, 1) WHERE TG_OP <> 'DELETE') x
     GROUP BY x.user_id
    HAVING sum(x.friends) <> 0 OR sum(x.followers) <> 0 OR sum(x.following) <> 0 OR sum(x.blocking) <> 0
     ORDER BY x.user_id
  LOOP
    -- a user being deleted has no row left (ON DELETE CASCADE): nothing to update, nothing to fail
    UPDATE user_counts c
       SET friends = c.friends + d.friends, followers = c.followers + d.followers,
           following = c.following + d.following, blocking = c.blocking + d.blocking,
           updated_at = now(), version = c.version + 1
     WHERE c.user_id = d.user_id;
  END LOOP;
  RETURN NULL;
END $$;

CREATE FUNCTION user_counts_on_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO user_counts (user_id) VALUES (NEW.id) ON CONFLICT (user_id) DO NOTHING;
  RETURN NULL;
END $$;

-- Sets every user's row to what the relationships hold, in one statement over the whole table: for a bulk load
-- with the triggers disabled and no writer (bench/src/generate.ts), and to repair; a row whose counts are already
-- right is left alone, its version unchanged. It locks nothing beyond its rows, so run it only when no
-- relationship is being written, or the count may miss a change made meanwhile. The same
-- contributions as user_counts_of, spelled out: one scan of the table, and Postgres 15's planner fails ("variable
-- not found in subplan target list") on that function applied LATERAL to whole rows.
CREATE FUNCTION user_counts_recount() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE changed bigint;
BEGIN
  INSERT INTO user_counts AS c (user_id, friends, followers, following, blocking)
  SELECT u.id, coalesce(t.friends, 0), coalesce(t.followers, 0), coalesce(t.following, 0), coalesce(t.blocking, 0)
    FROM users u
    LEFT JOIN (SELECT d.user_id, sum(d.friends)::int AS friends, sum(d.followers)::int AS followers,
                      sum(d.following)::int AS following, sum(d.blocking)::int AS blocking
                 FROM (SELECT r.from_user_id AS user_id,
                              (r.type = 'FRIEND' AND r.status = 'ACCEPTED')::int AS friends, 0 AS followers,
                              (r.type = 'FOLLOW' AND r.status = 'ACCEPTED')::int AS following,
                              (r.type = 'BLOCK')::int AS blocking
                         FROM relationships r
                       UNION ALL
                       SELECT r.to_user_id, (r.type = 'FRIEND' AND r.status = 'ACCEPTED')::int,
                              (r.type = 'FOLLOW' AND r.status = 'ACCEPTED')::int, 0, 0
                         FROM relationships r) d
                GROUP BY d.user_id) t ON t.user_id = u.id
  ON CONFLICT (user_id) DO UPDATE
     SET friends = excluded.friends, followers = excluded.followers, following = excluded.following,
         blocking = excluded.blocking, updated_at = now(), version = c.version + 1
   WHERE (c.friends, c.followers, c.following, c.blocking)
         IS DISTINCT FROM (excluded.friends, excluded.followers, excluded.following, excluded.blocking);
  GET DIAGNOSTICS changed = ROW_COUNT;
  RETURN changed;
END $$;

CREATE TRIGGER users_user_counts AFTER INSERT ON users
  FOR EACH ROW EXECUTE FUNCTION user_counts_on_user();
CREATE TRIGGER relationships_user_counts AFTER INSERT OR UPDATE OR DELETE ON relationships
  FOR EACH ROW EXECUTE FUNCTION user_counts_on_relationship();

-- The backfill of the users that exist (the next migration calls it outside a transaction): a batch of users at
-- a time, in id order, each batch its own transaction. A batch first locks its users' rows (a relationship insert
-- takes KEY SHARE on both users for its foreign keys, so one touching the batch waits) and their relationship rows
-- (an update or delete of one waits), then counts with a snapshot taken after those locks: no change can fall
-- between the count and the triggers. Writes touching the batch wait for one batch (milliseconds), never for the
-- whole table. A relationship inserted meanwhile is counted by its trigger, after the batch: Postgres fires a row's
-- AFTER triggers in name order, and the foreign-key check (`RI_ConstraintTrigger_…`, upper case first) waits for
-- the batch's lock before `relationships_user_counts` looks for the row. A batch that deadlocks with a writer, or
-- waits past the migrator's lock_timeout, is rolled back (releasing its locks) and tried again, up to 20 times in a
-- row. Idempotent: a batch run again rewrites only rows that are wrong.
CREATE PROCEDURE user_counts_backfill(batch integer DEFAULT 2000) LANGUAGE plpgsql AS $$
DECLARE
  last_id uuid := '00000000-0000-0000-0000-000000000000';
  ids uuid[];
  failures integer := 0;
BEGIN
  LOOP
    SELECT array_agg(id ORDER BY id) INTO ids FROM (SELECT id FROM users WHERE id > last_id ORDER BY id LIMIT batch) b;
    EXIT WHEN ids IS NULL;
    BEGIN
      PERFORM 1 FROM users WHERE id = ANY (ids) ORDER BY id FOR UPDATE;
      PERFORM 1 FROM relationships WHERE from_user_id = ANY (ids) FOR SHARE;
      PERFORM 1 FROM relationships WHERE to_user_id = ANY (ids) FOR SHARE;
      INSERT INTO user_counts AS c (user_id, friends, followers, following, blocking)
      SELECT u.id,
             (SELECT count(*) FROM relationships r
               WHERE r.from_user_id = u.id AND r.type = 'FRIEND' AND r.status = 'ACCEPTED')
             + (SELECT count(*) FROM relationships r
                 WHERE r.to_user_id = u.id AND r.type = 'FRIEND' AND r.status = 'ACCEPTED'),
             (SELECT count(*) FROM relationships r
               WHERE r.to_user_id = u.id AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED'),
             (SELECT count(*) FROM relationships r
               WHERE r.from_user_id = u.id AND r.type = 'FOLLOW' AND r.status = 'ACCEPTED'),
             (SELECT count(*) FROM relationships r WHERE r.from_user_id = u.id AND r.type = 'BLOCK')
        FROM users u WHERE u.id = ANY (ids)
      ON CONFLICT (user_id) DO UPDATE
         SET friends = excluded.friends, followers = excluded.followers, following = excluded.following,
             blocking = excluded.blocking, updated_at = now(), version = c.version + 1
       WHERE (c.friends, c.followers, c.following, c.blocking)
             IS DISTINCT FROM (excluded.friends, excluded.followers, excluded.following, excluded.blocking);
      last_id := ids[array_length(ids, 1)];
      failures := 0;
    EXCEPTION WHEN deadlock_detected OR lock_not_available THEN
      -- a writer that holds a relationship row and then wants a user of the batch (the block route), or a lock
      -- held past the migrator's lock_timeout: the batch's locks are released with its subtransaction, the writer
      -- goes on, and the same batch is tried again
      failures := failures + 1;
      IF failures > 20 THEN RAISE; END IF;
      RAISE NOTICE 'user_counts_backfill: batch after % retried (%)', last_id, SQLERRM;
      PERFORM pg_sleep(0.05 * failures);
    END;
    COMMIT;
  END LOOP;
END $$;

-- streamed like the other entities (REPLICA IDENTITY DEFAULT: the key says whose counts a delete drops)
ALTER PUBLICATION bgc_cdc ADD TABLE user_counts;

-- Down Migration
ALTER PUBLICATION bgc_cdc DROP TABLE user_counts;
DROP PROCEDURE user_counts_backfill(integer);
DROP TRIGGER relationships_user_counts ON relationships;
DROP TRIGGER users_user_counts ON users;
DROP FUNCTION user_counts_recount();
DROP FUNCTION user_counts_on_user();
DROP FUNCTION user_counts_on_relationship();
DROP FUNCTION user_counts_of(relationships, integer);
DROP TABLE user_counts;
