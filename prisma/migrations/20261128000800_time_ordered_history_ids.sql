-- Up Migration
-- The history tables (messages, status updates, forum posts) take most inserts, and a random (v4) id sends each
-- insert into its primary key at a random leaf page: a page that is rarely in memory, and whose first change after a
-- checkpoint writes the whole 8 KiB page to the WAL. Measured on a 3.5M-message month (session 6, issue 3): 50
-- sends wrote 89 full-page images and 335 KB of WAL and took 33 ms; with time-ordered ids, 7 images, 62 KB, 4 ms.
-- A UUIDv7 (RFC 9562) starts with the creation time in milliseconds, so new ids land on the index's rightmost
-- pages. Its timestamp tells no more than created_at does. PostgreSQL 18 has a built-in pg_catalog.uuidv7(),
-- which then takes precedence over this one (pg_catalog is searched first) and does the same.
-- Existing ids stay as they are: the id is opaque, and pages order by (created_at, id).
CREATE FUNCTION public.uuidv7() RETURNS uuid
  LANGUAGE sql VOLATILE PARALLEL SAFE
  RETURN encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid;
COMMENT ON FUNCTION public.uuidv7() IS
  'RFC 9562 UUID version 7: 48-bit Unix time in ms, then random bits (version and variant set on a v4 UUID)';

-- a default is catalog-only (no rewrite); on a partitioned table it reaches every partition
ALTER TABLE messages ALTER COLUMN id SET DEFAULT uuidv7();
ALTER TABLE status_updates ALTER COLUMN id SET DEFAULT uuidv7();
ALTER TABLE forum_posts ALTER COLUMN id SET DEFAULT uuidv7();

-- Down Migration
ALTER TABLE forum_posts ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE status_updates ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE messages ALTER COLUMN id SET DEFAULT gen_random_uuid();
DROP FUNCTION public.uuidv7();
