/**
 * Status updates (one year, in time order, authors skewed towards popular users, 70% PUBLIC / 30% FRIENDS) and
 * forums: ~20 categories of Zipf-distributed size, threads opened over 18 months, and posts that mostly land on
 * recently opened threads (a thread is hot for a while, then goes quiet). Thread post counts and last-post times
 * are learnt in a first pass over the posts so threads are inserted with their final values.
 */
import { growthQuantile, hash32, Rng, unit, zipfRank } from './rng.ts';
import { sentence } from './model-people.ts';
import { FORUM_CATEGORIES } from './vocab.ts';
import type { World } from './world.ts';
import { categoryId, historyId, historyStart, HISTORY_MS, iso, SALT, STATUS_MS, threadId, userId } from './world.ts';

export const STATUS_COLUMNS = 'id, created_at, author_id, content, visibility';
export const CATEGORY_COLUMNS = 'id, slug, name, description, created_at';
export const THREAD_COLUMNS = 'id, category_id, author_id, title, post_count, last_post_at, created_at';
export const POST_COLUMNS = 'id, category_id, created_at, thread_id, author_id, content';

/** Half of the updates come from the popular head (Zipf), half from anyone. */
export function statusAuthor(w: World, rng: Rng): number {
  return rng.chance(0.5) ? rng.zipf(w.counts.users, 0.9) : rng.int(w.counts.users);
}

export function* statusUpdates(w: World): Generator<string> {
  const rng = new Rng(w.seed, 0x8000000);
  const n = w.counts.statusUpdates;
  const start = w.now - STATUS_MS;
  for (let i = 0; i < n; i++) {
    const ms = Math.min(w.now - 1, start + STATUS_MS * growthQuantile(i, n, 2, rng.float()));
    const author = statusAuthor(w, rng);
    const visibility = rng.chance(0.7) ? 'PUBLIC' : 'FRIENDS';
    yield `${historyId(w, SALT.status, ms, i)}\t${iso(ms)}\t${userId(w, author)}\t${sentence(rng, 3, 40)}\t${visibility}\n`;
  }
}

export function* categories(w: World): Generator<string> {
  for (let c = 0; c < FORUM_CATEGORIES.length; c++) {
    const slug = FORUM_CATEGORIES[c]!;
    const name = slug.replace(/(^|-)([a-z])/g, (_m, dash: string, ch: string) => (dash ? ' ' : '') + ch.toUpperCase());
    yield `${categoryId(w, c)}\t${slug}\t${name}\tAbout ${name.toLowerCase()}\t${iso(historyStart(w) - 60 * 86_400_000)}\n`;
  }
}

/** Threads open in time order; the category and author of thread k are hashes of k. */
export const threadCreatedMs = (w: World, k: number) =>
  historyStart(w) + HISTORY_MS * growthQuantile(k, w.counts.threads, 2, unit(hash32(w.seed, 301, k)));
export const threadCategory = (w: World, k: number) =>
  zipfRank(unit(hash32(w.seed, 302, k)), FORUM_CATEGORIES.length, 0.9);
const threadAuthor = (w: World, k: number) => zipfRank(unit(hash32(w.seed, 303, k)), w.counts.users, 0.9);

export interface ThreadStats {
  posts: Int32Array;
  last: Float64Array;
}

export interface Reply {
  ms: number;
  thread: number;
  author: number;
}

/** The replies (every post but each thread's opener) in time order; a reply goes to a recent thread, by Zipf. */
export function* planReplies(w: World): Generator<Reply> {
  const rng = new Rng(w.seed, 0x9000000);
  const n = w.counts.forumPosts - w.counts.threads;
  const start = threadCreatedMs(w, 0);
  const reply: Reply = { ms: 0, thread: 0, author: 0 };
  let open = 0; // threads opened so far
  for (let i = 0; i < n; i++) {
    reply.ms = Math.min(w.now - 1, start + (w.now - start) * growthQuantile(i, n, 2, rng.float()));
    while (open < w.counts.threads && threadCreatedMs(w, open) <= reply.ms) open++;
    reply.thread = Math.max(0, open - 1 - rng.zipf(Math.max(1, open), 1.1));
    reply.author = rng.chance(0.5) ? rng.zipf(w.counts.users, 0.9) : rng.int(w.counts.users);
    yield reply;
  }
}

export function learnThreads(w: World): ThreadStats {
  const stats: ThreadStats = {
    posts: new Int32Array(w.counts.threads).fill(1),
    last: new Float64Array(w.counts.threads),
  };
  for (let k = 0; k < w.counts.threads; k++) stats.last[k] = threadCreatedMs(w, k);
  for (const r of planReplies(w)) {
    stats.posts[r.thread]!++;
    stats.last[r.thread] = Math.max(stats.last[r.thread]!, r.ms);
  }
  return stats;
}

export function* threads(w: World, stats: ThreadStats): Generator<string> {
  for (let k = 0; k < w.counts.threads; k++) {
    const title = sentence(new Rng(w.seed, 0xa000000 + k), 3, 12);
    const cat = categoryId(w, threadCategory(w, k));
    yield `${threadId(w, k)}\t${cat}\t${userId(w, threadAuthor(w, k))}\t${title}\t${stats.posts[k]}\t${iso(stats.last[k]!)}\t${iso(threadCreatedMs(w, k))}\n`;
  }
}

/** Openers and replies merged in time order. */
export function* posts(w: World): Generator<string> {
  const text = new Rng(w.seed, 0xb000000);
  let n = 0;
  let opened = 0;
  const post = (ms: number, thread: number, author: number) =>
    `${historyId(w, SALT.post, ms, n++)}\t${categoryId(w, threadCategory(w, thread))}\t${iso(ms)}\t${threadId(w, thread)}\t${userId(w, author)}\t${sentence(text, 5, 60)}\n`;
  for (const r of planReplies(w)) {
    for (; opened < w.counts.threads && threadCreatedMs(w, opened) <= r.ms; opened++) {
      yield post(threadCreatedMs(w, opened), opened, threadAuthor(w, opened));
    }
    yield post(r.ms, r.thread, r.author);
  }
  for (; opened < w.counts.threads; opened++) yield post(threadCreatedMs(w, opened), opened, threadAuthor(w, opened));
}
