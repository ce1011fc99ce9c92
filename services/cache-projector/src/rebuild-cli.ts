/**
 * `operations-cli.ts rebuild [--dry-run | --resume | --abort] [--feeds] [--rate N] [--grace-ms N] [--chunk N]`: the
 * rebuild (`rebuild.ts`) with a progress bar on stderr (offsets covered, events/s, ETA), its steps on stderr, and a
 * summary on stdout. Ctrl-C stops it cleanly (what was applied is committed); `--resume` continues.
 *
 * `--feeds`: the home feeds too, once the projections are rebuilt. A feed is derived from the database, not from
 * the topics (status updates are kept for days, not for ever), so its rebuild is the feed builder's own: every feed
 * is dropped (`@bgc/cache/feed-operations`, a bar of feeds dropped), and each is rebuilt from the replica when its
 * owner next reads it, answered from the database as `partial` meanwhile, never empty.
 */
import cliProgress from 'cli-progress';
import { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import { feedKeyspace } from '@bgc/cache/feed-keys';
import { countFeeds, dropAllFeeds } from '@bgc/cache/feed-operations';
import { GenerationError } from '@bgc/cache/generation';
import { connectCacheRedis } from '@bgc/cache/redis-client';
import type { ProjectorConfig } from './config.ts';
import { OperationRefused } from './operations.ts';
import type { RebuildMode, RebuildReporter } from './rebuild.ts';
import { rebuild, RebuildInterrupted } from './rebuild.ts';

export interface RebuildFlags {
  'dry-run'?: boolean;
  resume?: boolean;
  abort?: boolean;
  rate?: string;
  'grace-ms'?: string;
  chunk?: string;
  feeds?: boolean;
}

const count = (flag: string, raw: string | undefined, fallback: number) => {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new OperationRefused('USAGE', `--${flag} takes a whole number ≥ 0`);
  return n;
};

const connectCache = (cfg: ProjectorConfig) =>
  connectCacheRedis({ url: cfg.REDIS_URL, clusterNodes: cfg.PROJECTOR_REDIS_CLUSTER_NODES, maxRetriesPerRequest: 3 });

/** The progress bar (drawn in place on a terminal, a line every 2 s in a log) and the steps, on stderr. */
function terminalReporter(): RebuildReporter & { stop(): void } {
  let bar: cliProgress.SingleBar | undefined;
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    step(message, fields) {
      stop();
      process.stderr.write(`rebuild: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
    },
    progress({ generation, covered, total, counts, seconds }) {
      const payload = { events: counts.events, rate: seconds > 0 ? Math.round(counts.events / seconds) : 0 };
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: `${generation} {bar} {percentage}% | {value}/{total} offsets | {events} events | {rate} events/s | ETA {eta_formatted}`,
            fps: 4,
            noTTYOutput: true,
            notTTYSchedule: 2000,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, covered, payload);
      } else {
        bar.update(covered, payload);
      }
    },
    stop,
  };
}

/** Drops every home feed with a bar of feeds dropped (rate, ETA); returns how many. */
async function dropFeedsWithProgress(store: Redis, cfg: ProjectorConfig): Promise<number> {
  const keys = feedKeyspace(cfg.FEED_KEY_PREFIX);
  const total = await countFeeds(store, keys);
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'feeds {bar} {percentage}% | {value}/{total} dropped | {rate} feeds/s | ETA {eta_formatted}',
      fps: 4,
      noTTYOutput: true,
      notTTYSchedule: 2000,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rate: 0 });
  try {
    // a feed made meanwhile may be dropped too (more than counted): the bar's total follows
    return await dropAllFeeds(store, keys, (dropped) => {
      if (dropped > bar.getTotal()) bar.setTotal(dropped);
      bar.update(dropped, { rate: Math.round(dropped / Math.max(0.001, (Date.now() - started) / 1000)) });
    });
  } finally {
    bar.stop();
  }
}

export async function rebuildCommand(config: ProjectorConfig, kafka: Kafka, flags: RebuildFlags): Promise<void> {
  const chosen = (['dry-run', 'resume', 'abort'] as const).filter((f) => flags[f]);
  if (chosen.length > 1) {
    throw new OperationRefused(
      'USAGE',
      `rebuild takes one of --dry-run, --resume, --abort, not ${chosen.join(' and ')}`,
    );
  }
  const mode: RebuildMode = chosen[0] === 'dry-run' ? 'dry-run' : (chosen[0] ?? 'start');
  if (flags.feeds && mode === 'abort') {
    throw new OperationRefused('USAGE', '--feeds goes with a rebuild (or --resume, --dry-run), not with --abort');
  }
  const options = {
    rate: count('rate', flags.rate, 0),
    graceMs: count('grace-ms', flags['grace-ms'], 5000),
    chunkEvents: Math.max(1, count('chunk', flags.chunk, 2000)),
  };
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const cache = connectCache(config);
  const store = new Redis(config.REDIS_STORE_URL, { maxRetriesPerRequest: 3, lazyConnect: true });
  const controller = new AbortController();
  // the first Ctrl-C stops after the chunk in hand (committed); a second one ends the process at once
  const interrupt = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nrebuild: stopping after the chunk in hand (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  const reporter = terminalReporter();
  try {
    await cache.connect().catch((err: unknown) => {
      throw new Error(
        `cannot reach the cache Redis (BGC_REDIS_URL / BGC_PROJECTOR_REDIS_CLUSTER_NODES): ${String(err)}`,
      );
    });
    await store.connect().catch((err: unknown) => {
      throw new Error(
        `cannot reach the store Redis holding the generation pointer (BGC_REDIS_STORE_URL): ${String(err)}`,
      );
    });
    const r = await rebuild({ kafka, cache, store, config, mode, ...options, signal: controller.signal, reporter });
    reporter.stop();
    const c = r.counts;
    const replayed = `${c.events} events (${c.writes} writes) in ${r.replaySeconds.toFixed(1)} s, ${
      r.replaySeconds > 0 ? Math.round(c.events / r.replaySeconds) : 0
    } events/s`;
    if (mode === 'dry-run') {
      out(`dry run: nothing written; read ${replayed}`);
      out(
        `would build generation ${r.built} from ${c.events} events (${r.total} offsets) into ${c.writes} guarded writes, ` +
          `switch readers from generation "${r.previous}" to ${r.built}, and delete ${r.deletedKeys} keys`,
      );
    } else if (r.built) {
      out(
        `generation ${r.built} is live (was "${r.previous}"): replayed ${replayed}` +
          `${r.resumedAt > 0 ? ` (resumed at ${r.resumedAt} of ${r.total} offsets)` : ''}; ` +
          `${r.deletedKeys} keys of the old generation deleted; ${r.seconds.toFixed(1)} s in all`,
      );
    } else {
      out(`generation "${r.live}" is live; ${r.deletedKeys} keys of retired generations deleted`);
    }
    if (flags.feeds) {
      const feedsAfter = '; each is rebuilt from the replica by the feed builder when its owner next reads it';
      if (mode === 'dry-run')
        out(`would drop ${await countFeeds(store, feedKeyspace(config.FEED_KEY_PREFIX))} home feeds${feedsAfter}`);
      else out(`${await dropFeedsWithProgress(store, config)} home feeds dropped${feedsAfter}`);
    }
    if (c.unprojectable + c.refused > 0) {
      out(
        `${c.unprojectable} event(s) could not be projected and ${c.refused} write(s) were refused (the live projector ` +
          `dead-letters the same events: \`operations-cli.ts dead-letters\`); first: ${c.firstErrors.join('; ')}`,
      );
    }
  } catch (err) {
    reporter.stop();
    if (err instanceof GenerationError) throw new OperationRefused(err.code, err.message);
    if (controller.signal.aborted && !(err instanceof OperationRefused)) {
      process.stderr.write(
        `INTERRUPTED: ${
          err instanceof RebuildInterrupted && /--resume/.test(err.message)
            ? err.message
            : 'interrupted: `rebuild --resume` finishes what was left (a build, or deleting a retired generation)'
        }\n`,
      );
      process.exitCode = 130;
      return;
    }
    throw err;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    cache.disconnect();
    store.disconnect();
  }
}
