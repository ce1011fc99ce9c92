// Followers who were active recently (feed fan-out, issue 6): WHERE is_active AND last_active_at > now() - $window.
// users is not partitioned, so one CREATE INDEX CONCURRENTLY, alone and outside a transaction.
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  pgm.sql('CREATE INDEX CONCURRENTLY IF NOT EXISTS users_last_active_idx ON users (last_active_at) WHERE is_active');
}

export function down(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  pgm.sql('DROP INDEX CONCURRENTLY IF EXISTS users_last_active_idx');
}
