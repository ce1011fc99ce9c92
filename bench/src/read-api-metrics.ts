/** What a read API's /metrics says about its caches. */

/** Lookups by `<keyspace>/<outcome>` (cache_lookups_total), from the read API listening on `port`. */
export async function cacheLookups(port: number | string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cache_lookups_total\{([^}]*)\} (\S+)$/gm)) {
    const keyspace = /keyspace="([^"]+)"/.exec(m[1] ?? '')?.[1];
    const outcome = /outcome="([^"]+)"/.exec(m[1] ?? '')?.[1];
    out.set(`${keyspace}/${outcome}`, Number(m[2]));
  }
  return out;
}

/** Requests that read the database (read_api_db_reads_total, every target and reason), from the read API on `port`. */
export async function databaseReads(port: number | string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^read_api_db_reads_total\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}
