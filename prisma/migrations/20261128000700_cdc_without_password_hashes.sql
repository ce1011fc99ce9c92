-- Up Migration
-- Password hashes never leave the database: `users` is published with a column list (PostgreSQL 15) that leaves
-- out password_hash. Its consumers (caches, feeds) have no use for it, and Kafka topics are read by more people and
-- kept longer than the table. A column added to `users` later is published only once it is added to this list
-- (expand step of the column's migration). The replica identity (the primary key) stays inside the list, as
-- PostgreSQL requires for published updates and deletes.
ALTER PUBLICATION bgc_cdc DROP TABLE users;
ALTER PUBLICATION bgc_cdc ADD TABLE users (id, email, name, image, is_active, last_active_at, created_at, updated_at, version);

-- Down Migration
ALTER PUBLICATION bgc_cdc DROP TABLE users;
ALTER PUBLICATION bgc_cdc ADD TABLE users;
