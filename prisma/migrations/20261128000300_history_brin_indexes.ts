// BRIN indexes on the time column of each partitioned history table: tiny, and they let range scans over
// created_at (retention checks, "this week" rankings, the data generator's checks) skip whole block ranges.
// Added to tables that may already hold data, so built without blocking writes: ON ONLY the parent, each
// partition CONCURRENTLY, then ATTACH (packages/db/src/partitioned-index.ts).
import type { MigrationBuilder } from 'node-pg-migrate';
import { createPartitionedIndexConcurrently, dropPartitionedIndex } from '../../packages/db/src/partitioned-index.ts';

const indexes = ['messages', 'status_updates', 'forum_posts'].map((table) => ({
  table,
  name: `${table}_created_brin`,
  definition: 'USING brin (created_at)',
}));

export async function up(pgm: MigrationBuilder): Promise<void> {
  for (const index of indexes) await createPartitionedIndexConcurrently(pgm, index);
}

export function down(pgm: MigrationBuilder): void {
  for (const index of indexes) dropPartitionedIndex(pgm, index);
}
