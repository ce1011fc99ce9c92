-- Up Migration
-- What CDC streams, and with which old-row image.
--
-- publish_via_partition_root: a change in messages_p2026_11 is published as a change of `messages`, so consumers
-- see one table per entity whatever the partitioning.
--
-- REPLICA IDENTITY, per table:
--   FULL for the tables whose consumers must know more than the key when a row is deleted or updated: a deleted
--   message must leave its room's cached history (room_id / conversation_id), a deleted status update or
--   relationship must leave the right feeds (author_id, from/to user), a deleted post its thread page, and a
--   profile's unchanged large `bio` must not arrive as "unchanged TOAST" (FULL logs every column of the old row).
--   The price is a larger WAL record per update/delete on these tables.
--   DEFAULT (the primary key) for the rest: their key already says everything a consumer needs
--   (room_members and conversation_participants have composite keys naming both sides) or their rows are small
--   and never deleted in normal operation.
--   Partitions: logical decoding reads each leaf's identity, so the partition maintainer gives every new
--   partition its parent's (maintenance.create_range_partition).
ALTER TABLE profiles REPLICA IDENTITY FULL;
ALTER TABLE relationships REPLICA IDENTITY FULL;
ALTER TABLE messages REPLICA IDENTITY FULL;
ALTER TABLE messages_default REPLICA IDENTITY FULL;
ALTER TABLE status_updates REPLICA IDENTITY FULL;
ALTER TABLE status_updates_default REPLICA IDENTITY FULL;
ALTER TABLE forum_posts REPLICA IDENTITY FULL;
ALTER TABLE forum_posts_default REPLICA IDENTITY FULL;
DO $$
DECLARE r record;
BEGIN
  -- partitions that exist already (a re-applied migration on a populated database)
  FOR r IN SELECT c.oid::regclass AS part FROM pg_partition_tree('messages') t JOIN pg_class c ON c.oid = t.relid
           WHERE t.isleaf
           UNION ALL SELECT c.oid::regclass FROM pg_partition_tree('status_updates') t JOIN pg_class c ON c.oid = t.relid
           WHERE t.isleaf
           UNION ALL SELECT c.oid::regclass FROM pg_partition_tree('forum_posts') t JOIN pg_class c ON c.oid = t.relid
           WHERE t.isleaf LOOP
    EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', r.part);
  END LOOP;
END $$;

CREATE PUBLICATION bgc_cdc FOR TABLE
  users, profiles, relationships, chat_rooms, room_members, conversations, conversation_participants,
  messages, status_updates, forum_categories, forum_threads, forum_posts
  WITH (publish_via_partition_root = true);

-- Down Migration
DROP PUBLICATION bgc_cdc;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT relid::regclass AS t FROM pg_partition_tree('messages')
           UNION ALL SELECT relid::regclass FROM pg_partition_tree('status_updates')
           UNION ALL SELECT relid::regclass FROM pg_partition_tree('forum_posts')
           UNION ALL SELECT 'profiles'::regclass UNION ALL SELECT 'relationships'::regclass LOOP
    EXECUTE format('ALTER TABLE %s REPLICA IDENTITY DEFAULT', r.t);
  END LOOP;
END $$;
