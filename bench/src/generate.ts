/**
 * Fills a migrated, empty database with a generated world (see world.ts and the model-*.ts files): forum
 * categories first, then every partition the history needs (maintainPartitions with `since` = the oldest row, so
 * nothing piles into DEFAULT), then every table by COPY with all indexes and foreign keys in place (or, with
 * deferIndexes, rebuilt afterwards), in up to three streams on their own connections, and ANALYZE at the end.
 */
import pg from 'pg';
import { maintainPartitions } from '@bgc/db/partitions';
import { copyRows } from './copy.ts';
import type { Deferred } from './defer.ts';
import { dropSecondary, rebuildSecondary } from './defer.ts';
import * as chat from './model-chat.ts';
import * as feed from './model-feed.ts';
import * as people from './model-people.ts';
import { FORUM_CATEGORIES } from './vocab.ts';
import type { World } from './world.ts';
import { DAY, historyStart } from './world.ts';

export interface TableLoad {
  table: string;
  rows: number;
  seconds: number;
}

export interface GenerateReport {
  tables: TableLoad[];
  seconds: number;
  analyzeSeconds: number;
  /** With deferIndexes: the time spent rebuilding indexes, unique constraints and foreign keys. */
  rebuildSeconds: number | null;
}

export interface GenerateOptions {
  url: string;
  world: World;
  /** Parallel COPY streams (connections); 1 loads the tables one after another. */
  jobs?: number;
  chunkRows?: number;
  /** Drop secondary indexes, unique constraints and foreign keys for the load and rebuild them after (defer.ts). */
  deferIndexes?: boolean;
  /** Progress: the expected total once, then rows as they are sent and the tables in flight. */
  onStart?: (expectedRows: number) => void;
  onRows?: (n: number, active: readonly string[]) => void;
  log?: (line: string) => void;
}

/** The expected row count of every table, for progress (relationships are estimated). */
export function expectedRows(w: World, t: chat.ChatTables): Record<string, number> {
  const c = w.counts;
  return {
    users: c.users,
    profiles: c.users,
    relationships: people.estimateRelationships(w),
    chat_rooms: c.rooms,
    room_members: chat.countMembers(t),
    conversations: c.conversations,
    conversation_participants: chat.countParticipants(t),
    messages: c.messages,
    status_updates: c.statusUpdates,
    forum_categories: FORUM_CATEGORIES.length,
    forum_threads: c.threads,
    forum_posts: c.forumPosts,
  };
}

const ANALYZED = [
  'users',
  'profiles',
  'relationships',
  'chat_rooms',
  'room_members',
  'conversations',
  'conversation_participants',
  'messages',
  'status_updates',
  'forum_categories',
  'forum_threads',
  'forum_posts',
  'user_counts',
];

/**
 * The triggers that keep `user_counts` (a row update per relationship row): off during the load, which sets every
 * count at once afterwards with the migration's own `user_counts_recount()`.
 */
const COUNT_TRIGGERS = [
  ['users', 'users_user_counts'],
  ['relationships', 'relationships_user_counts'],
] as const;
const countTriggers = (c: pg.ClientBase, on: boolean) =>
  c.query(COUNT_TRIGGERS.map(([t, name]) => `ALTER TABLE ${t} ${on ? 'ENABLE' : 'DISABLE'} TRIGGER ${name};`).join(''));

export async function generate(opts: GenerateOptions): Promise<GenerateReport> {
  const { world: w } = opts;
  const started = performance.now();
  const tables: TableLoad[] = [];
  const active = new Set<string>();
  const log = opts.log ?? (() => undefined);

  const connect = async () => {
    const c = new pg.Client({ connectionString: opts.url, application_name: 'bgc-generate' });
    await c.connect();
    // the bulk load may outlast any per-role statement timeout; the session commits asynchronously (a crash
    // loses the last few COPYs of a regenerable data set, never consistency)
    await c.query(`SET statement_timeout = 0; SET synchronous_commit = off`);
    return c;
  };
  const main = await connect();
  try {
    const { rows } = await main.query<{ n: string }>('SELECT count(*) AS n FROM (SELECT 1 FROM users LIMIT 1) u');
    if (rows[0]?.n !== '0') throw new Error('the database already has users: generate into an empty one (--db)');

    log('chat tables: sizes, then a first pass over the messages for conversation times');
    const t = chat.chatTables(w);
    chat.learnConversations(w, t);
    log('forum: a first pass over the posts for thread counts');
    const threadStats = feed.learnThreads(w);
    const expected = expectedRows(w, t);
    opts.onStart?.(Object.values(expected).reduce((a, b) => a + b, 0));

    const load = async (client: pg.ClientBase, table: string, columns: string, rows: Iterable<string>) => {
      const t0 = performance.now();
      active.add(table);
      const n = await copyRows(client, table, columns, rows, {
        chunkRows: opts.chunkRows,
        onRows: (k) => opts.onRows?.(k, [...active]),
      });
      active.delete(table);
      tables.push({ table, rows: n, seconds: (performance.now() - t0) / 1000 });
    };

    await load(main, 'forum_categories', feed.CATEGORY_COLUMNS, feed.categories(w));
    const since = new Date(Math.min(historyStart(w), w.now - 400 * DAY) - 31 * DAY);
    const parts = await maintainPartitions(main, { since });
    log(`partitions: ${parts.created.length} created from ${since.toISOString().slice(0, 10)}`);
    let deferred: Deferred | null = null;
    if (opts.deferIndexes) {
      deferred = await dropSecondary(
        main,
        ANALYZED.filter((t) => t !== 'forum_categories' && t !== 'user_counts'),
      );
      const n = deferred.indexes.length + deferred.uniques.length + deferred.foreignKeys.length;
      log(`deferred ${n} indexes and constraints until the rows are in`);
    }
    await countTriggers(main, false);
    await load(main, 'users', people.USER_COLUMNS, people.users(w));

    // three independent chains after users: each on its own connection when jobs > 1
    const chains: ((c: pg.ClientBase) => Promise<void>)[] = [
      async (c) => {
        await load(c, 'chat_rooms', chat.ROOM_COLUMNS, chat.rooms(w, t));
        await load(c, 'conversations', chat.CONVERSATION_COLUMNS, chat.conversations(w, t));
        await load(c, 'messages', chat.MESSAGE_COLUMNS, chat.messages(w, t));
        await load(c, 'room_members', chat.MEMBER_COLUMNS, chat.roomMembers(w, t));
        await load(c, 'conversation_participants', chat.PARTICIPANT_COLUMNS, chat.participants(w, t));
      },
      async (c) => {
        await load(c, 'status_updates', feed.STATUS_COLUMNS, feed.statusUpdates(w));
        await load(c, 'forum_threads', feed.THREAD_COLUMNS, feed.threads(w, threadStats));
        await load(c, 'forum_posts', feed.POST_COLUMNS, feed.posts(w));
      },
      async (c) => {
        await load(c, 'profiles', people.PROFILE_COLUMNS, people.profiles(w));
        await load(c, 'relationships', people.RELATIONSHIP_COLUMNS, people.relationships(w));
      },
    ];
    const jobs = Math.max(1, Math.min(opts.jobs ?? 3, chains.length));
    const clients = [main];
    try {
      while (clients.length < jobs) clients.push(await connect());
      // chain i runs on connection i % jobs; chains sharing a connection run one after another
      await Promise.all(
        clients.map(async (c, i) => {
          for (let k = i; k < chains.length; k += jobs) await chains[k]!(c);
        }),
      );
    } finally {
      await Promise.all(clients.slice(1).map((c) => c.end()));
    }

    const c0 = performance.now();
    log('user_counts: every user counted at once, then the triggers back on');
    const counted = await main.query<{ n: string }>('SELECT user_counts_recount() AS n');
    await countTriggers(main, true);
    tables.push({ table: 'user_counts', rows: Number(counted.rows[0]?.n), seconds: (performance.now() - c0) / 1000 });

    let rebuildSeconds: number | null = null;
    if (deferred) {
      log('rebuilding indexes, unique constraints and foreign keys');
      rebuildSeconds = (await rebuildSecondary(main, deferred, log)).seconds;
    }
    const a0 = performance.now();
    log('ANALYZE');
    await main.query(`ANALYZE ${ANALYZED.join(', ')}`);
    const analyzeSeconds = (performance.now() - a0) / 1000;
    return { tables, seconds: (performance.now() - started) / 1000, analyzeSeconds, rebuildSeconds };
  } finally {
    await main.end();
  }
}
