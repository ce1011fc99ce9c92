/** What a read API's /metrics says about its caches and its database reads, from one scrape. */
export interface ReadApiCounters {
  /** lookups by `<keyspace>/<outcome>` (cache_lookups_total) */
  lookups: Map<string, number>;
  /** requests that read the database (read_api_db_reads_total, every target and reason) */
  databaseReads: number;
}

/** The counters of the read API listening on `port`. */
export async function readApiCounters(port: number | string): Promise<ReadApiCounters> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const lookups = new Map<string, number>();
  for (const m of text.matchAll(/^cache_lookups_total\{([^}]*)\} (\S+)$/gm)) {
    const keyspace = /keyspace="([^"]+)"/.exec(m[1] ?? '')?.[1];
    const outcome = /outcome="([^"]+)"/.exec(m[1] ?? '')?.[1];
    lookups.set(`${keyspace}/${outcome}`, Number(m[2]));
  }
  const databaseReads = [...text.matchAll(/^read_api_db_reads_total\{[^}]*\} (\S+)$/gm)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
  return { lookups, databaseReads };
}
