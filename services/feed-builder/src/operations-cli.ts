/**
 * Operators' commands for the feeds (`@bgc/cache/feed-operations`; `rebuild --all` is also the cache projector's
 * `rebuild --feeds`):
 *
 *   node services/feed-builder/src/operations-cli.ts status --user <id>    (built, entries, expiry, pulled authors)
 *   node services/feed-builder/src/operations-cli.ts rebuild --user <id>   (dropped, then rebuilt by the builder now)
 *   node services/feed-builder/src/operations-cli.ts rebuild --all         (every feed dropped: rebuilt when read)
 *
 * Exit codes: 0 done, 1 failed, 2 refused (the message says why and what to do).
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { feedKeyspace } from '@bgc/cache/feed-keys';
import { loadEnvOrExit } from '@bgc/config/env';
import { feedBuilderEnv } from './config.ts';
import { dropAllFeeds, dropFeed, feedStatus, requestRebuild } from '@bgc/cache/feed-operations';
import { checkUserId, FeedOperationRefused } from './operations.ts';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { user: { type: 'string' }, all: { type: 'boolean' } },
});
const config = loadEnvOrExit(feedBuilderEnv);
const keys = feedKeyspace(config.FEED_KEY_PREFIX);
const store = new Redis(config.REDIS_STORE_URL, { maxRetriesPerRequest: 3 });
const out = (line: string) => process.stdout.write(`${line}\n`);

try {
  switch (positionals[0]) {
    case 'status':
      out(JSON.stringify(await feedStatus(store, keys, checkUserId(args.user)), null, 2));
      break;
    case 'rebuild':
      if (args.all) {
        out(`${await dropAllFeeds(store, keys)} feed(s) dropped; each is rebuilt when its owner next reads it`);
      } else {
        const userId = checkUserId(args.user);
        await dropFeed(store, keys, userId);
        await requestRebuild(store, keys, userId);
        out(`${userId}: dropped and asked for; the feed builder rebuilds it from the replica`);
      }
      break;
    default:
      throw new FeedOperationRefused('USAGE', 'commands: status --user ID | rebuild (--user ID | --all)');
  }
} catch (err) {
  process.stderr.write(
    `${err instanceof FeedOperationRefused ? err.code : 'FAILED'}: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exitCode = err instanceof FeedOperationRefused ? 2 : 1;
} finally {
  store.disconnect();
}
