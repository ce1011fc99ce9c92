import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { feedKeyspace } from '@bgc/cache/feed-keys';
import { buildSequence } from '@bgc/cache/feed-score';
import { buildFeed, registerFeedScripts } from '@bgc/cache/feed-scripts';
import { openTestContext } from '@bgc/testkit/context';
import { countFeeds, dropAllFeeds, dropFeed, feedStatus } from '@bgc/cache/feed-operations';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/operations-cli.ts');
const run = promisify(execFile);
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('feed operations (real Redis)', () => {
  test('status, dropping one feed, dropping all (the authors’ lists stay), and the CLI', async () => {
    await using ctx = await openTestContext('feed-ops');
    const store = registerFeedScripts(ctx.redisStore());
    const keys = feedKeyspace(ctx.redisPrefix);
    for (const user of [id(1), id(2), id(3)]) {
      await buildFeed(store, keys, user, {
        sequence: buildSequence(7n),
        cap: 10,
        expireAtMs: Date.now() + 60_000,
        entries: [{ statusId: id(100), authorId: id(9), score: 1_000_000 }],
        pulls: [[id(8), 'f']],
      });
    }
    await store.zadd(keys.authorPosts(id(8)), 1, id(200));
    expect(await feedStatus(store, keys, id(1))).toMatchObject({
      built: true,
      builtAt: buildSequence(7n),
      entries: 1,
      trimmed: false,
      building: false,
      pulled: { [id(8)]: 'f' },
    });
    expect(await dropFeed(store, keys, id(1))).toBe(true);
    expect((await feedStatus(store, keys, id(1))).built).toBe(false);

    const env = {
      ...process.env,
      BGC_REDIS_STORE_URL: ctx.urls.redisStoreUrl,
      BGC_FEED_KEY_PREFIX: ctx.redisPrefix,
    };
    const status = await run(process.execPath, [cli, 'status', '--user', id(2)], { env });
    expect(JSON.parse(status.stdout)).toMatchObject({ built: true, entries: 1 });
    const refused = await run(process.execPath, [cli, 'rebuild'], { env }).catch((err: { code: number }) => err);
    expect(refused).toMatchObject({ code: 2 });

    expect(await countFeeds(store, keys)).toBe(2);
    const progress: number[] = [];
    expect(await dropAllFeeds(store, keys, (n) => progress.push(n))).toBe(2);
    expect(progress.at(-1)).toBe(2);
    expect(await countFeeds(store, keys)).toBe(0);
    expect(await store.exists(keys.feed(id(2)), keys.guards(id(3)), keys.pulls(id(3)))).toBe(0);
    expect(await store.zcard(keys.authorPosts(id(8)))).toBe(1);
  });
});
