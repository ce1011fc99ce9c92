// Search by state or city pages by (location_city, user_id): with the user id in the index the page is a pure
// range read, where (location_state, location_city) alone made Postgres sort a whole city's profiles per page.
// Expand, then contract: build the wider index, then drop the old one it covers; each CONCURRENTLY, alone,
// outside a transaction.
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  pgm.sql(
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS profiles_location_keyset_idx ON profiles (location_state, location_city, user_id)',
  );
  pgm.sql('DROP INDEX CONCURRENTLY IF EXISTS profiles_location_idx');
}

export function down(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  pgm.sql('CREATE INDEX CONCURRENTLY IF NOT EXISTS profiles_location_idx ON profiles (location_state, location_city)');
  pgm.sql('DROP INDEX CONCURRENTLY IF EXISTS profiles_location_keyset_idx');
}
