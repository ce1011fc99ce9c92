/**
 * Topic names and their kinds. One topic per table, `<prefix>.<schema>.<table>` (Debezium's naming), a partitioned
 * table under its root's name; transaction boundaries in `<prefix>.transaction`.
 *
 * Entity topics are compacted: the newest event per key survives, so reading one from the start rebuilds current
 * state. History topics (append-mostly, large) keep events for a retention period instead.
 */
export const HISTORY_TABLES: ReadonlySet<string> = new Set(['messages', 'status_updates', 'forum_posts']);

export type TopicKind = 'entity' | 'history' | 'transaction';

export const tableTopic = (prefix: string, schema: string, table: string) => `${prefix}.${schema}.${table}`;

export const transactionTopic = (prefix: string) => `${prefix}.transaction`;

export const topicKind = (table: string): TopicKind => (HISTORY_TABLES.has(table) ? 'history' : 'entity');
