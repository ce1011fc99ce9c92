/**
 * The operators' rebuild of the projections from Kafka into a fresh key generation, while the live one keeps
 * serving, then an atomic switch of every reader (`@bgc/cache/generation` explains the pointer and why no event is
 * missed):
 *
 *  1. finish deleting any generation a previous run left retiring; `beginBuild` hands out `g<n>` as `building`
 *     (refused while another build is in progress); from the next chunk on, the live projector writes there too;
 *  2. take each projected partition's high watermark, *after* step 1, and replay every topic from the beginning up
 *     to it into `g<n>` with a consumer group of the build's own (`<group>.rebuild.g<n>.<began>`), committing after
 *     each chunk Redis acknowledged: `--resume` after an interruption continues from there (high watermarks taken
 *     anew: any taken after step 1 will do);
 *  3. `switchToBuilding`: readers and the projector move to `g<n>` (published at once); the old live generation is
 *     retiring;
 *  4. after a grace period (a projector chunk or a reader that read the pointer just before the switch may still
 *     touch the old keys), delete the old generation's keys (SCAN + UNLINK) and forget it; delete the build's group.
 *
 * `--abort` drops the build in progress (its keys are deleted after the same grace); `--dry-run` reads every topic
 * up to its end with a throwaway group, counts, and writes nothing. A build or an abort is refused while a rebuild
 * process is still consuming for that build.
 */
import type { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import type { Generations } from '@bgc/cache/generation';
import {
  abortBuild,
  beginBuild,
  countGenerationKeys,
  deleteGenerationKeys,
  generationPrefix,
  markRetired,
  readGenerations,
  switchToBuilding,
} from '@bgc/cache/generation';
import { keyspace } from '@bgc/cache/keys';
import { PROJECTED_TABLES } from '@bgc/cache/projections';
import type { ScriptedCluster, ScriptedRedis } from '@bgc/cache/scripts';
import { tableTopic } from '@bgc/events/topics';
import type { ProjectorConfig } from './config.ts';
import { writeSettings } from './config.ts';
import { OperationRefused } from './operations.ts';
import type { PartitionTarget, ReplayCounts } from './topic-replay.ts';
import { replayTargets, replayTopics } from './topic-replay.ts';

export type RebuildMode = 'start' | 'resume' | 'abort' | 'dry-run';

export interface RebuildReporter {
  /** a step of the rebuild, said once */
  step(message: string, fields?: Record<string, unknown>): void;
  /** the replay's progress: offsets covered of the total, events read and seconds spent so far, in `generation` */
  progress(p: { generation: string; covered: number; total: number; counts: ReplayCounts; seconds: number }): void;
}

export interface RebuildOptions {
  kafka: Kafka;
  /** the cache Redis (or Cluster), where the projections are */
  cache: ScriptedRedis | ScriptedCluster;
  /** the store Redis, where the generation pointer is */
  store: Redis;
  config: ProjectorConfig;
  mode: RebuildMode;
  /** events per second at most (spares a loaded Redis); 0: as fast as it goes */
  rate?: number;
  /** events per chunk (its writes leave as a few script calls; offsets are committed after each) */
  chunkEvents?: number;
  /** after the switch (or an abort), how long before the retired generation's keys are deleted */
  graceMs?: number;
  signal?: AbortSignal;
  reporter?: RebuildReporter;
}

export interface RebuildResult {
  mode: RebuildMode;
  /** the live generation afterwards (in a dry run: the one it would build) */
  live: string;
  /** the generation built (or that would be) */
  built?: string;
  /** the live generation before the switch */
  previous?: string;
  counts: ReplayCounts;
  /** offsets already covered when this run started (a resume), and in all */
  resumedAt: number;
  total: number;
  /** keys of retired generations deleted (a dry run: that would be) */
  deletedKeys: number;
  /** the replay's duration, and the whole run's */
  replaySeconds: number;
  seconds: number;
}

/** The rebuild was interrupted (signal); `rebuild --resume` continues it. */
export class RebuildInterrupted extends Error {
  readonly code = 'INTERRUPTED';
}

const noReporter: RebuildReporter = { step: () => undefined, progress: () => undefined };
const emptyCounts = (): ReplayCounts => ({ events: 0, writes: 0, unprojectable: 0, refused: 0, firstErrors: [] });
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(new RebuildInterrupted('interrupted'))), {
      once: true,
    });
  });

/** The consumer group of one build: new for every build (generation names and start times are never reused). */
export const buildGroup = (cfg: ProjectorConfig, g: Generations) =>
  `${cfg.PROJECTOR_GROUP}.rebuild.${g.building}.${g.buildingSince}`;

export async function rebuild(opts: RebuildOptions): Promise<RebuildResult> {
  const started = Date.now();
  const { config: cfg, store, cache, kafka } = opts;
  const base = cfg.PROJECTOR_KEY_PREFIX;
  const report = opts.reporter ?? noReporter;
  const topics = PROJECTED_TABLES.map((t) => tableTopic(cfg.PROJECTOR_TOPIC_PREFIX, 'public', t));
  const admin = kafka.admin();
  await admin.connect();
  const result = (r: Partial<RebuildResult> & { live: string }): RebuildResult => ({
    mode: opts.mode,
    counts: emptyCounts(),
    resumedAt: 0,
    total: 0,
    deletedKeys: 0,
    replaySeconds: 0,
    seconds: (Date.now() - started) / 1000,
    ...r,
  });

  /** Refuses while a process consumes in the build's group: two would each wait for the other's partitions. */
  const refuseWhileConsuming = async (group: string, what: string) => {
    const [described] = (await admin.describeGroups([group])).groups;
    if (described && described.members.length > 0) {
      throw new OperationRefused(
        'REBUILD_RUNNING',
        `a rebuild process is still consuming for this build (group ${group}, ${described.members.length} member(s)): ` +
          `stop it (Ctrl-C) or wait for it, then ${what}; one killed a moment ago stays a member until its session ` +
          `times out (BGC_PROJECTOR_SESSION_TIMEOUT_MS)`,
      );
    }
  };

  /** Deletes the keys of every retiring generation once the grace after the last switch has passed. */
  const retire = async (g: Generations) => {
    let deleted = 0;
    for (const generation of g.retiring) {
      if (generation !== g.live && generation !== g.building) {
        const wait = g.changedAt + (opts.graceMs ?? 5000) - Date.now();
        if (wait > 0) {
          report.step(`waiting ${wait} ms for readers and the projector to leave generation "${generation}"`);
          await sleep(wait, opts.signal);
        }
        report.step(`deleting the keys of generation "${generation}"`);
        const n = await deleteGenerationKeys(cache, base, generation, { signal: opts.signal });
        report.step(`deleted ${n} keys of generation "${generation}"`, { generation, keys: n });
        deleted += n;
      }
      await markRetired(store, base, generation);
    }
    return deleted;
  };

  try {
    let g = await readGenerations(store, base);
    if (opts.mode === 'dry-run') return await dryRun(opts, g, topics, admin, result);
    if (opts.mode === 'abort') {
      if (g.building === undefined)
        throw new OperationRefused('NO_BUILD', 'no rebuild is in progress: nothing to abort');
      await refuseWhileConsuming(buildGroup(cfg, g), 'abort');
      const { before, after } = await abortBuild(store, base, g.building);
      report.step(`aborted the build of generation ${before.building}; "${after.live}" stays live`);
      await admin.deleteGroups([buildGroup(cfg, before)]).catch(() => undefined);
      return result({ live: after.live, deletedKeys: await retire(after) });
    }
    if (opts.mode === 'resume' && g.building === undefined) {
      if (g.retiring.length === 0) {
        throw new OperationRefused(
          'NOTHING_TO_RESUME',
          `no rebuild is in progress (generation "${g.live}" is live): start one with \`rebuild\``,
        );
      }
      report.step(`no build in progress; finishing the deletion of ${g.retiring.map((r) => `"${r}"`).join(', ')}`);
      return result({ live: g.live, deletedKeys: await retire(g) });
    }
    let deletedKeys = 0;
    if (opts.mode === 'start') {
      if (g.building === undefined && g.retiring.length > 0) deletedKeys += await retire(g);
      g = await beginBuild(store, base);
      report.step(`began building generation ${g.building}; the live projector writes it too from now on`, {
        live: g.live,
        building: g.building,
      });
    } else {
      await refuseWhileConsuming(buildGroup(cfg, g), 'resume');
    }
    const building = g.building ?? '';
    const group = buildGroup(cfg, g);
    // after beginBuild: every event above these is the live projector's to write into the new generation too
    const targets = await replayTargets(admin, topics, group);
    const { total, covered } = span(targets);
    if (opts.mode === 'resume') report.step(`resuming generation ${building} at ${covered} of ${total} offsets`);
    const { counts, replaySeconds } = await replay(opts, { generation: building, group, targets, write: true });
    if (counts.interrupted) {
      throw new RebuildInterrupted(
        `interrupted: generation ${building} is still being built (the live projector keeps writing it); ` +
          '`rebuild --resume` continues from the last committed offsets, `rebuild --abort` drops it',
      );
    }
    report.step(`replayed ${counts.events} events into generation ${building}`, { ...counts });
    const { before, after } = await switchToBuilding(store, base, building);
    report.step(`switched: generation ${building} is live (was "${before.live}")`);
    await admin.deleteGroups([group]).catch(() => undefined);
    deletedKeys += await retire(after);
    return result({
      live: after.live,
      built: building,
      previous: before.live,
      counts,
      resumedAt: covered,
      total,
      deletedKeys,
      replaySeconds,
    });
  } finally {
    await admin.disconnect();
  }
}

/** Replays the targets into `generation` (or, without `write`, only counts), reporting progress. */
async function replay(
  opts: RebuildOptions,
  r: { generation: string; group: string; targets: PartitionTarget[]; write: boolean },
) {
  const { total, covered } = span(r.targets);
  const started = Date.now();
  const report = opts.reporter ?? noReporter;
  const progress = (at: number, counts: ReplayCounts) =>
    report.progress({ generation: r.generation, covered: at, total, counts, seconds: (Date.now() - started) / 1000 });
  progress(covered, emptyCounts());
  const counts = await replayTopics({
    kafka: opts.kafka,
    group: r.group,
    targets: r.targets,
    ...(r.write ? { cache: opts.cache } : {}),
    keys: keyspace(generationPrefix(opts.config.PROJECTOR_KEY_PREFIX, r.generation)),
    settings: writeSettings(opts.config),
    sessionTimeoutMs: opts.config.PROJECTOR_SESSION_TIMEOUT_MS,
    chunkEvents: opts.chunkEvents ?? 2000,
    rate: opts.rate ?? 0,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onProgress: (at, c) => progress(Number(at), c),
    onRetry: (err, where) => report.step(`applying ${where} failed, reading it again after a back-off: ${err.message}`),
  });
  return { counts, replaySeconds: (Date.now() - started) / 1000 };
}

const span = (targets: PartitionTarget[]) => ({
  total: Number(targets.reduce((sum, t) => sum + (t.high - t.low), 0n)),
  covered: Number(targets.reduce((sum, t) => sum + (t.from - t.low), 0n)),
});

/** Reads every topic to its end with a throwaway group, counting; says what a rebuild would do; writes nothing. */
async function dryRun(
  opts: RebuildOptions,
  g: Generations,
  topics: string[],
  admin: ReturnType<Kafka['admin']>,
  result: (r: Partial<RebuildResult> & { live: string }) => RebuildResult,
): Promise<RebuildResult> {
  const cfg = opts.config;
  const report = opts.reporter ?? noReporter;
  const built = g.building ?? `g${g.seq + 1}`;
  if (g.building !== undefined) {
    report.step(`a build of generation ${g.building} is in progress: \`rebuild --resume\` would continue it`);
  }
  const group = `${cfg.PROJECTOR_GROUP}.rebuild-dry-run.${process.pid}.${Date.now()}`;
  const targets = await replayTargets(admin, topics, group);
  const { total } = span(targets);
  try {
    const { counts, replaySeconds } = await replay(opts, { generation: built, group, targets, write: false });
    if (counts.interrupted) throw new RebuildInterrupted('interrupted (a dry run: nothing to resume)');
    let deletedKeys = 0;
    for (const generation of new Set([g.live, ...g.retiring])) {
      deletedKeys += await countGenerationKeys(opts.cache, cfg.PROJECTOR_KEY_PREFIX, generation);
    }
    return result({ live: built, built, previous: g.live, counts, total, deletedKeys, replaySeconds });
  } finally {
    await admin.deleteGroups([group]).catch(() => undefined);
  }
}
