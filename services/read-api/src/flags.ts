/**
 * Feature flags through OpenFeature, from a JSON file in flagd's flag-definition format, evaluated in process by
 * flagd's provider (offline mode: no flagd daemon) which watches the file and reloads it when it changes. Every
 * caching and query strategy has a flag, so it can be switched per endpoint and rolled back at run time, without a
 * restart or a deploy. An unknown value (a typo in the file) counts as the flag's default and is logged.
 *
 * The values are evaluated once per change of the file, not per request: a request reads a field (no evaluation
 * on the hot path). So flagd's targeting rules see no per-request context; the flags are per endpoint.
 *
 *   { "flags": { "cache.profile": { "state": "ENABLED", "defaultVariant": "redis",
 *                                   "variants": { "l1+redis": "l1+redis", "redis": "redis", "db": "db" } } } }
 */
import { FlagdProvider } from '@openfeature/flagd-provider';
import type { Client } from '@openfeature/server-sdk';
import { OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import type { Logger } from '@bgc/telemetry/logger';

export const FLAGS = {
  /** profiles: the in-process L1 and Redis, Redis only, or the database only */
  'cache.profile': ['l1+redis', 'redis', 'db'],
  /** status bodies on feed pages: the in-process L1 and Redis, or Redis only (the replica behind both) */
  'cache.status_bodies': ['l1+redis', 'redis'],
  /** first pages of room and conversation history: Redis's recent list when it holds enough, or the database */
  'history.source': ['redis-first', 'db'],
  /** first pages of friends, followers and following: cache-aside in Redis, or the database */
  'cache.relations': ['cache-aside', 'db'],
  /**
   * first pages of forum categories: the projector's front page (filled from the database when missing), a
   * cache-aside entry (refreshed by its TTL only), or the database
   */
  'cache.forum': ['front-page', 'cache-aside', 'db'],
  /** first pages of user search results */
  'cache.search': ['cache-aside', 'db'],
  /** where database reads go: the replica (the primary only to read one's writes), or always the primary */
  'db.reads': ['replica', 'primary'],
} as const;

export type FlagKey = keyof typeof FLAGS;
export type FlagValues = { -readonly [K in FlagKey]: (typeof FLAGS)[K][number] };

const DOMAIN = 'read-api';
const defaults = (): FlagValues =>
  Object.fromEntries(Object.entries(FLAGS).map(([k, values]) => [k, values[0]])) as FlagValues;

export class Flags {
  #values: FlagValues = defaults();
  readonly #client: Client | undefined;
  readonly #logger: Logger;

  private constructor(client: Client | undefined, logger: Logger) {
    this.#client = client;
    this.#logger = logger;
  }

  /** Opens the flag file (every flag at its default when there is none) and follows its changes. */
  static async open(file: string, logger: Logger): Promise<Flags> {
    if (file === '') return new Flags(undefined, logger);
    const log = {
      error: (...a: unknown[]) => logger.error({ detail: a.map(String).join(' ') }, 'flags'),
      warn: (...a: unknown[]) => logger.warn({ detail: a.map(String).join(' ') }, 'flags'),
      info: () => undefined,
      debug: () => undefined,
    };
    const provider = new FlagdProvider({ resolverType: 'in-process', offlineFlagSourcePath: file }, log);
    await OpenFeature.setProviderAndWait(DOMAIN, provider);
    const flags = new Flags(OpenFeature.getClient(DOMAIN), logger);
    await flags.#refresh();
    flags.#client?.addHandler(ProviderEvents.ConfigurationChanged, () => {
      flags.#refresh().catch((err: unknown) => logger.error({ err }, 'flags: re-evaluation failed'));
    });
    return flags;
  }

  get<K extends FlagKey>(key: K): FlagValues[K] {
    return this.#values[key];
  }

  get all(): Readonly<FlagValues> {
    return this.#values;
  }

  async close(): Promise<void> {
    if (this.#client) await OpenFeature.close();
  }

  async #refresh() {
    const client = this.#client;
    if (!client) return;
    const next = defaults();
    for (const [key, allowed] of Object.entries(FLAGS) as [FlagKey, readonly string[]][]) {
      const value = await client.getStringValue(key, allowed[0] ?? '');
      if (allowed.includes(value)) (next as Record<string, string>)[key] = value;
      else this.#logger.warn({ flag: key, value, allowed }, 'flags: unknown value, using the default');
    }
    const changed = Object.keys(next).filter((k) => next[k as FlagKey] !== this.#values[k as FlagKey]);
    this.#values = next;
    if (changed.length > 0) this.#logger.info({ flags: next, changed }, 'flags');
  }
}
