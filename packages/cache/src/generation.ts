/**
 * Generations of the projections, so a rebuild can fill a fresh set of keys from Kafka while the live one keeps
 * serving, then switch every reader at once. A generation is a key prefix: `<base><generation>:` (`keys.ts` puts the
 * prefix outside the hash tag), and the generation `''` is the bare `<base>`, so keys written before generations
 * existed are simply the first live generation.
 *
 * The pointer is one JSON value, `<base>projections:generation`: `{ live, building?, retiring, seq, … }`. It is kept
 * in the store Redis (never evicts, persisted), not beside the projections: the cache evicts any key under memory
 * pressure (allkeys-lfu), and a lost pointer would send every reader and the projector back to generation `''`,
 * away from the live keys. Every change is a compare-and-set in one Lua script that also PUBLISHes the new value on
 * a channel of the same name, so readers re-read it at once (`watchGenerations`, which also re-reads on a timer in
 * case a message is lost).
 *
 * Why a rebuild misses nothing (`services/cache-projector/src/rebuild.ts` relies on this):
 *  1. `beginBuild` sets `building`; only then does the rebuild take each partition's high watermark H;
 *  2. the live projector reads the pointer before every chunk it applies (`readGenerations`, never a cached value)
 *     and writes the chunk to the live generation and to `building` while there is one;
 *  3. an event at an offset ≥ H became readable after H was taken, so after `building` was set: whichever chunk
 *     carries it read the pointer later, and wrote it to the new generation. Events below H the rebuild applies
 *     itself. Both paths use the same version-checked, idempotent scripts, so they converge in any interleaving.
 * After `switchToBuilding`, the previous live generation is `retiring`: a projector chunk or a reader that read the
 * pointer just before the switch may still touch it for a moment, so its keys are deleted after a grace period
 * (`deleteGenerationKeys`), and then `markRetired` forgets it. Generation names are never reused (`seq`), so keys
 * left behind by an aborted build cannot leak into a later one.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Keyspace } from './keys.ts';
import { keyspace } from './keys.ts';

export interface Generations {
  /** the generation readers read and the projector writes; '' = keys directly under the base prefix */
  live: string;
  /** the generation a rebuild is filling; the projector writes it too */
  building?: string;
  /** when the build began (ms since the epoch): also names the rebuild's consumer group */
  buildingSince?: number;
  /** generations no longer read whose keys are (about to be) deleted */
  retiring: string[];
  /** the number of the last generation handed out (`g<seq>`) */
  seq: number;
  /** when the pointer last changed (ms since the epoch) */
  changedAt: number;
}

export const DEFAULT_GENERATIONS: Generations = Object.freeze({ live: '', retiring: [], seq: 0, changedAt: 0 });

export class GenerationError extends Error {
  /** BUILD_IN_PROGRESS, NO_BUILD, NOT_THAT_BUILD, BAD_POINTER, CONTENDED */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The pointer's key in the store Redis, also the channel its changes are published on. */
export const pointerKey = (base: string) => `${base}projections:generation`;

/** The key prefix of a generation (what `keyspace()` takes). */
export const generationPrefix = (base: string, generation: string) =>
  generation === '' ? base : `${base}${generation}:`;

/** The generations a projector writes: the live one, and the one being built while a rebuild runs. */
export const writtenGenerations = (g: Generations): string[] =>
  g.building === undefined ? [g.live] : [g.live, g.building];

const NAME = /^(|g\d+)$/;

function parse(raw: string | null, key: string): Generations {
  if (raw === null) return DEFAULT_GENERATIONS;
  const bad = (why: string) =>
    new GenerationError(
      'BAD_POINTER',
      `${key} (store Redis) is not a generation pointer (${why}): ${raw.slice(0, 200)}; ` +
        `set it to {"live":"<generation>","retiring":[],"seq":<n>,"changedAt":0} naming the generation that holds the projections`,
    );
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw bad('not JSON');
  }
  const o = v as Partial<Generations>;
  if (typeof o !== 'object' || o === null) throw bad('not an object');
  if (typeof o.live !== 'string' || !NAME.test(o.live)) throw bad('live');
  if (o.building !== undefined && (typeof o.building !== 'string' || !/^g\d+$/.test(o.building))) {
    throw bad('building');
  }
  if (!Array.isArray(o.retiring) || !o.retiring.every((r) => typeof r === 'string' && NAME.test(r))) {
    throw bad('retiring');
  }
  if (!Number.isSafeInteger(o.seq) || !Number.isFinite(o.changedAt)) throw bad('seq or changedAt');
  return {
    live: o.live,
    ...(o.building === undefined ? {} : { building: o.building, buildingSince: Number(o.buildingSince ?? 0) }),
    retiring: o.retiring,
    seq: Number(o.seq),
    changedAt: Number(o.changedAt),
  };
}

/** The pointer as it is now; the default (live `''`) where it was never set. */
export async function readGenerations(store: Redis, base: string): Promise<Generations> {
  const key = pointerKey(base);
  return parse(await store.get(key), key);
}

const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', KEYS[1], ARGV[2])
return 1`;

/**
 * Applies `change` to the pointer as it is, atomically against other changes (compare-and-set; re-read and
 * re-decided when another change came first), and publishes the result.
 */
async function update(store: Redis, base: string, change: (g: Generations) => Generations) {
  const key = pointerKey(base);
  for (let attempt = 0; attempt < 20; attempt++) {
    const raw = await store.get(key);
    const before = parse(raw, key);
    const after = change(before);
    if ((await store.eval(COMPARE_AND_SET, 1, key, raw ?? '', JSON.stringify(after))) === 1) return { before, after };
  }
  throw new GenerationError('CONTENDED', `${key} kept changing under 20 attempts to update it; try again`);
}

const since = (g: Generations) => new Date(g.buildingSince ?? 0).toISOString();

/** Starts a build: hands out a new generation as `building`. Refused while another build is in progress. */
export async function beginBuild(store: Redis, base: string, now = Date.now()): Promise<Generations> {
  const { after } = await update(store, base, (g) => {
    if (g.building !== undefined) {
      throw new GenerationError(
        'BUILD_IN_PROGRESS',
        `a rebuild into generation ${g.building} has been in progress since ${since(g)}: continue it with ` +
          '`rebuild --resume`, or drop it with `rebuild --abort`',
      );
    }
    const building = `g${g.seq + 1}`;
    return { ...g, building, buildingSince: now, seq: g.seq + 1, changedAt: now };
  });
  return after;
}

const expectBuilding = (g: Generations, building: string | undefined) => {
  if (g.building === undefined) throw new GenerationError('NO_BUILD', 'no rebuild is in progress');
  if (building !== undefined && g.building !== building) {
    throw new GenerationError(
      'NOT_THAT_BUILD',
      `the build in progress is ${g.building} (since ${since(g)}), not ${building}: another rebuild replaced it`,
    );
  }
};

/** Makes the generation being built live; the previous live one is retiring. Returns the pointer before and after. */
export function switchToBuilding(store: Redis, base: string, building: string, now = Date.now()) {
  return update(store, base, (g) => {
    expectBuilding(g, building);
    return {
      live: building,
      retiring: [...new Set([...g.retiring, g.live])].filter((r) => r !== building),
      seq: g.seq,
      changedAt: now,
    };
  });
}

/** Drops the build in progress (`building`: only if it is that one); its generation is retiring. */
export function abortBuild(store: Redis, base: string, building?: string, now = Date.now()) {
  return update(store, base, (g) => {
    expectBuilding(g, building);
    return {
      live: g.live,
      retiring: [...new Set([...g.retiring, g.building ?? ''])],
      seq: g.seq,
      changedAt: now,
    };
  });
}

/** Forgets a retiring generation once its keys are deleted. */
export async function markRetired(store: Redis, base: string, generation: string): Promise<Generations> {
  const { after } = await update(store, base, (g) => ({ ...g, retiring: g.retiring.filter((r) => r !== generation) }));
  return after;
}

const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, (c) => `\\${c}`);

/**
 * Which keys belong to a generation. A named one owns everything under its prefix. The unnamed one (`''`) shares
 * the base prefix with other keys (the pointer, when store and cache are one Redis; whatever else lives there), so
 * only keys shaped as projections (`keys.ts`) count as its own.
 */
function generationKeys(base: string, generation: string): { match: string; test: (key: string) => boolean } {
  const prefix = generationPrefix(base, generation);
  if (generation !== '') return { match: `${globEscape(prefix)}*`, test: () => true };
  const marker = '\u0000';
  const shapes = Object.values(keyspace(prefix) as unknown as Record<string, (id: string) => string>).map((k) =>
    regexEscape(k(marker)).replace(marker, '[^}]*'),
  );
  const shape = new RegExp(`^(?:${shapes.join('|')})$`);
  return { match: `${globEscape(prefix)}{*`, test: (key) => shape.test(key) };
}

type Node = Redis;
const isCluster = (cache: Redis | Cluster): cache is Cluster => 'isCluster' in cache && cache.isCluster;
const nodesOf = (cache: Redis | Cluster): Node[] => (isCluster(cache) ? cache.nodes('master') : [cache]);

/** Calls `found` with each batch of a generation's keys, node by node (every master of a cluster). */
async function scanGeneration(
  cache: Redis | Cluster,
  base: string,
  generation: string,
  found: (node: Node, keys: string[]) => Promise<void>,
  signal?: AbortSignal,
) {
  const { match, test } = generationKeys(base, generation);
  for (const node of nodesOf(cache)) {
    let cursor = '0';
    do {
      signal?.throwIfAborted();
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      const own = keys.filter(test);
      if (own.length > 0) await found(node, own);
      cursor = next;
    } while (cursor !== '0');
  }
}

/** How many keys a generation has (a dry run's estimate of what deleting it would remove). */
export async function countGenerationKeys(cache: Redis | Cluster, base: string, generation: string) {
  let n = 0;
  await scanGeneration(cache, base, generation, (_, keys) => Promise.resolve(void (n += keys.length)));
  return n;
}

/**
 * Deletes a generation's keys with SCAN and UNLINK (freed in the background, so Redis does not stall), a batch at a
 * time; on a cluster node by node, one key per UNLINK (a node's keys span many slots). Returns how many it deleted.
 */
export async function deleteGenerationKeys(
  cache: Redis | Cluster,
  base: string,
  generation: string,
  opts: { onBatch?: (deleted: number) => void; signal?: AbortSignal } = {},
): Promise<number> {
  const cluster = isCluster(cache);
  let deleted = 0;
  await scanGeneration(
    cache,
    base,
    generation,
    async (node, keys) => {
      if (cluster) {
        const pipeline = node.pipeline();
        for (const key of keys) pipeline.unlink(key);
        for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
      } else {
        await node.unlink(...keys);
      }
      deleted += keys.length;
      opts.onBatch?.(deleted);
    },
    opts.signal,
  );
  return deleted;
}

export interface GenerationWatcher extends AsyncDisposable {
  /** the pointer as last read */
  current(): Generations;
  /** the key prefix of the live generation */
  livePrefix(): string;
  /** the keys of the live generation */
  keys(): Keyspace;
  close(): Promise<void>;
}

/**
 * For readers: the live generation, kept current. Reads the pointer at once, then again on every change published
 * on its channel, on every reconnection of the subscriber, and every `refreshMs` (a lost message or a dropped
 * connection costs at most that long). A failed read keeps the last value and calls `onError`.
 */
export async function watchGenerations(
  store: Redis,
  base: string,
  opts: {
    refreshMs?: number;
    onChange?: (now: Generations, before: Generations) => void;
    onError?: (err: unknown) => void;
  } = {},
): Promise<GenerationWatcher> {
  let current = await readGenerations(store, base);
  let keys = keyspace(generationPrefix(base, current.live));
  // reads may finish out of order (a message and the timer at once): only a read newer than the last applied counts
  let started = 0;
  let applied = 0;
  const refresh = async () => {
    const mine = ++started;
    try {
      const next = await readGenerations(store, base);
      if (mine < applied) return;
      applied = mine;
      const before = current;
      current = next;
      if (next.live !== before.live) keys = keyspace(generationPrefix(base, next.live));
      if (JSON.stringify(next) !== JSON.stringify(before)) opts.onChange?.(next, before);
    } catch (err) {
      opts.onError?.(err);
    }
  };
  const subscriber = store.duplicate();
  subscriber.on('error', (err) => opts.onError?.(err));
  subscriber.on('message', () => void refresh());
  subscriber.on('ready', () => void refresh());
  await subscriber.subscribe(pointerKey(base));
  const timer = setInterval(() => void refresh(), opts.refreshMs ?? 2000);
  timer.unref();
  const close = async () => {
    clearInterval(timer);
    await subscriber.quit().catch(() => subscriber.disconnect());
  };
  return {
    current: () => current,
    livePrefix: () => generationPrefix(base, current.live),
    keys: () => keys,
    close,
    [Symbol.asyncDispose]: close,
  };
}
