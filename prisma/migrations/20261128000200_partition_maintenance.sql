-- Up Migration
-- Partition maintenance, in the database so that every caller (the maintainer job, the data generator, tests)
-- shares one implementation. Periods are computed in UTC. A partition that already has rows waiting in its
-- parent's DEFAULT partition (written before the period existed) is created by moving those rows, under a lock
-- on the DEFAULT partition, so nothing is lost and ATTACH's check passes.

CREATE SCHEMA maintenance;

-- What to keep: `premake` future periods always exist; periods that ended more than `retention` ago are dropped.
CREATE TABLE maintenance.partition_policy (
  parent    text PRIMARY KEY,
  unit      text NOT NULL CHECK (unit IN ('month', 'week')),
  premake   integer NOT NULL DEFAULT 3 CHECK (premake >= 1),
  retention interval,                    -- NULL keeps every period
  -- forum_posts: LIST partitions per value of this column, each RANGE-partitioned by `unit`
  list_column text
);
INSERT INTO maintenance.partition_policy (parent, unit, premake, retention, list_column) VALUES
  ('messages', 'month', 3, interval '36 months', NULL),
  ('status_updates', 'week', 3, interval '104 weeks', NULL),
  ('forum_posts', 'month', 3, NULL, 'category_id');

CREATE FUNCTION maintenance.period_start(unit text, t timestamptz) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE AS $$ SELECT date_trunc(unit, t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;

CREATE FUNCTION maintenance.partition_suffix(unit text, start timestamptz) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE unit WHEN 'month' THEN to_char(start AT TIME ZONE 'UTC', '"p"YYYY"_"MM')
                     ELSE to_char(start AT TIME ZONE 'UTC', '"p"IYYY"w"IW') END $$;

CREATE FUNCTION maintenance.default_partition(parent regclass) RETURNS regclass
  LANGUAGE sql STABLE AS $$
    SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' $$;

-- Moves the rows matching `condition` out of `parent`'s DEFAULT partition into the new table `child`, then
-- attaches it with `bound`. The caller created `child` (LIKE parent). Returns the number of rows moved.
CREATE FUNCTION maintenance.attach_with_rows(parent regclass, child text, bound text, condition text) RETURNS bigint
  LANGUAGE plpgsql AS $$
DECLARE
  dflt regclass := maintenance.default_partition(parent);
  moved bigint := 0;
BEGIN
  IF dflt IS NOT NULL THEN
    -- writers block briefly instead of adding rows of this period to DEFAULT while we move them
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', dflt);
    EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %s RETURNING *) INSERT INTO %I SELECT * FROM moved',
                   dflt, condition, child);
    GET DIAGNOSTICS moved = ROW_COUNT;
  END IF;
  EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I %s', parent, child, bound);
  RETURN moved;
END $$;

-- Creates the partition of `parent` for the period that starts at `start`, unless it exists. Returns its name.
CREATE FUNCTION maintenance.create_range_partition(parent regclass, unit text, start timestamptz) RETURNS text
  LANGUAGE plpgsql AS $$
DECLARE
  stop timestamptz := start + ('1 ' || unit)::interval;
  name text := (SELECT relname FROM pg_class WHERE oid = parent) || '_' || maintenance.partition_suffix(unit, start);
  bound text := format('FOR VALUES FROM (%L) TO (%L)', start, stop);
  dflt regclass := maintenance.default_partition(parent);
  waiting boolean := false;
BEGIN
  IF to_regclass(quote_ident(name)) IS NOT NULL THEN RETURN NULL; END IF;
  IF dflt IS NOT NULL THEN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE created_at >= %L AND created_at < %L)', dflt, start, stop)
      INTO waiting;
  END IF;
  IF waiting THEN
    EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name, parent);
    PERFORM maintenance.attach_with_rows(parent, name, bound,
                                         format('created_at >= %L AND created_at < %L', start, stop));
  ELSE
    EXECUTE format('CREATE TABLE %I PARTITION OF %s %s', name, parent, bound);
  END IF;
  -- logical decoding reads the replica identity of each leaf, so a new partition follows its parent's
  IF (SELECT relreplident FROM pg_class WHERE oid = parent) = 'f' THEN
    EXECUTE format('ALTER TABLE %I REPLICA IDENTITY FULL', name);
  END IF;
  RETURN name;
END $$;

-- Every period from the one containing `since` to `premake` periods after now, plus the period of every row
-- waiting in DEFAULT (so DEFAULT drains itself, without filling the gap up to a far-off timestamp).
-- Returns the partitions created.
CREATE FUNCTION maintenance.ensure_range_partitions(parent regclass, unit text, premake integer,
                                                    since timestamptz DEFAULT now())
  RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  dflt regclass := maintenance.default_partition(parent);
  p timestamptz := maintenance.period_start(unit, least(since, now()));
  last timestamptz := maintenance.period_start(unit, now()) + (premake || ' ' || unit)::interval;
  created text;
BEGIN
  WHILE p <= last LOOP
    created := maintenance.create_range_partition(parent, unit, p);
    IF created IS NOT NULL THEN RETURN NEXT created; END IF;
    p := p + ('1 ' || unit)::interval;
  END LOOP;
  IF dflt IS NOT NULL THEN
    FOR p IN EXECUTE format('SELECT DISTINCT maintenance.period_start(%L, created_at) FROM %s', unit, dflt) LOOP
      created := maintenance.create_range_partition(parent, unit, p);
      IF created IS NOT NULL THEN RETURN NEXT created; END IF;
    END LOOP;
  END IF;
END $$;

-- forum_posts: one LIST partition per category (itself RANGE-partitioned by month, with its own DEFAULT).
CREATE FUNCTION maintenance.create_list_partition(parent regclass, list_column text, value uuid) RETURNS text
  LANGUAGE plpgsql AS $$
DECLARE
  name text := (SELECT relname FROM pg_class WHERE oid = parent) || '_c' || left(replace(value::text, '-', ''), 16);
  bound text := format('FOR VALUES IN (%L)', value);
BEGIN
  IF to_regclass(quote_ident(name)) IS NOT NULL THEN RETURN NULL; END IF;
  EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at)',
                 name, parent);
  EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', name || '_default', name);
  -- LIKE does not copy the replica identity; the sub-parent needs it too, since its own partitions copy it
  IF (SELECT relreplident FROM pg_class WHERE oid = parent) = 'f' THEN
    EXECUTE format('ALTER TABLE %I REPLICA IDENTITY FULL', name);
    EXECUTE format('ALTER TABLE %I REPLICA IDENTITY FULL', name || '_default');
  END IF;
  PERFORM maintenance.attach_with_rows(parent, name, bound, format('%I = %L', list_column, value));
  RETURN name;
END $$;

-- Detaches and drops the periods of `parent` that ended more than `retention` ago. Returns the dropped names.
CREATE FUNCTION maintenance.drop_expired_partitions(parent regclass, retention interval)
  RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT c.oid::regclass AS child, c.relname,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
  LOOP
    IF r.upper_bound <= now() - retention THEN
      EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', parent, r.child);
      EXECUTE format('DROP TABLE %s', r.child);
      RETURN NEXT r.relname;
    END IF;
  END LOOP;
END $$;

-- Down Migration
DROP SCHEMA maintenance CASCADE;
