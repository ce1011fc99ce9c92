-- Up Migration
-- forum_threads becomes REPLICA IDENTITY FULL: the cache projector keeps each forum category's front page
-- (`@bgc/cache/front-page`), and a deleted thread must leave its category's page, so its delete event must carry
-- category_id, not the primary key alone; FULL also keeps an unchanged long title from arriving as "unchanged
-- TOAST" in an update. The price, a whole old row in the WAL per update, is small: a thread row is short and
-- changes once per reply. The statement changes the catalog only (no rewrite), under the migrator's lock_timeout.
ALTER TABLE forum_threads REPLICA IDENTITY FULL;

-- Down Migration
ALTER TABLE forum_threads REPLICA IDENTITY DEFAULT;
