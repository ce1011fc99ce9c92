// The user_counts rows of the users that existed before the previous migration (`…_user_counts.sql`): its
// `user_counts_backfill` procedure, a batch of users per transaction with short locks on the batch's users and
// relationships only (see there), so sign-ups and relationship writes never wait for more than one batch. A
// procedure that commits as it goes must be CALLed outside a transaction block. Rerunnable; the down step leaves
// the rows (the previous migration's down step drops the table).
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  pgm.sql('CALL user_counts_backfill(2000)');
}

export function down(pgm: MigrationBuilder): void {
  pgm.noTransaction();
}
