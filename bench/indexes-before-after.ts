/**
 * The production queries with and without the secondary indexes, on the same data, side by side.
 *
 *   node bench/indexes-before-after.ts [--db NAME | --url URL] [--iterations 100] [--budget-seconds 5]
 *                                      [--timeout-seconds 30]
 *
 * Method: one connection, one transaction. Each production query (queries.ts, parameters from samples.ts) runs
 * 3 times untimed, then round-robin with the others until --iterations each or --budget-seconds of its own time,
 * timed as client round trips (performance.now around the awaited query). Then every non-primary-key index of
 * the public schema (partitioned parents, which takes their partitions' indexes with them, and the unique
 * constraints that are not primary keys) is dropped inside the same transaction, the same queries run again the
 * same way, and the transaction is rolled back, so the indexes come back untouched. Each execution in the second
 * phase sits in a savepoint so that one hitting --timeout-seconds is reported (as "> timeout") without aborting
 * the transaction. The drop holds ACCESS EXCLUSIVE locks until the rollback: run it on a benchmark database.
 */
import { productionQueries } from '@bgc/queries/queries';
import { pickSamples, sampleParams } from '@bgc/queries/samples';
import type { Summary } from './src/stats.ts';
import { connect, ms, summarize, table, time } from './src/stats.ts';
import { benchArgs } from './src/cli-args.ts';

const { values: args } = benchArgs({
  options: {
    db: { type: 'string' },
    url: { type: 'string' },
    iterations: { type: 'string', default: '100' },
    'budget-seconds': { type: 'string', default: '5' },
    'timeout-seconds': { type: 'string', default: '30' },
  },
});
const out = (s = '') => process.stdout.write(`${s}\n`);
const { client: db } = await connect(args);
const names = Object.keys(productionQueries) as (keyof typeof productionQueries)[];

type Result = Summary | 'timeout';

async function measure(params: ReturnType<typeof sampleParams>, guarded: boolean): Promise<Map<string, Result>> {
  const samples = new Map(names.map((n) => [n as string, [] as number[]]));
  const spent = new Map(names.map((n) => [n as string, 0]));
  const timedOut = new Set<string>();
  const exec = async (name: keyof typeof productionQueries) => {
    const q = productionQueries[name];
    if (guarded) await db.query('SAVEPOINT q');
    try {
      const t = await time(() => db.query({ text: q.text, values: [...params[name]] }));
      if (guarded) await db.query('RELEASE SAVEPOINT q');
      return t;
    } catch (err) {
      if (!guarded || !/statement timeout/.test(String(err))) throw err;
      await db.query('ROLLBACK TO SAVEPOINT q');
      timedOut.add(name);
      return null;
    }
  };
  for (const name of names) for (let i = 0; i < 3 && !timedOut.has(name); i++) await exec(name);
  const budget = Number(args['budget-seconds']) * 1000;
  for (let round = 0; round < Number(args.iterations); round++) {
    let ran = false;
    for (const name of names) {
      if (timedOut.has(name) || (round >= 5 && spent.get(name)! > budget)) continue;
      const t = await exec(name);
      if (t === null) continue;
      samples.get(name)!.push(t);
      spent.set(name, spent.get(name)! + t);
      ran = true;
    }
    if (!ran) break;
  }
  return new Map(names.map((n) => [n, timedOut.has(n) ? 'timeout' : summarize(samples.get(n)!)]));
}

try {
  out(`# production queries with and without secondary indexes (${new Date().toISOString()})`);
  out(
    'method: one connection; round-robin client round trips (3 untimed warm-ups each), then the same after ' +
      'dropping every non-PK index in a transaction that is rolled back',
  );
  // picked once, with the indexes: without them these picking scans would only be slower
  const params = sampleParams(await pickSamples(db));
  await db.query('BEGIN');
  const before = await measure(params, false);
  const { rows: indexes } = await db.query<{ index: string; table: string; constraint: string | null }>(
    `SELECT ic.relname AS index, t.relname AS table, con.conname AS constraint
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype = 'u'
      WHERE n.nspname = 'public' AND NOT i.indisprimary AND NOT ic.relispartition
      ORDER BY 2, 1`,
  );
  for (const ix of indexes) {
    await db.query(
      ix.constraint ? `ALTER TABLE "${ix.table}" DROP CONSTRAINT "${ix.constraint}"` : `DROP INDEX "${ix.index}"`,
    );
  }
  out(`dropped for the second phase (${indexes.length}): ${indexes.map((i) => i.index).join(', ')}`);
  await db.query(`SET LOCAL statement_timeout = '${Number(args['timeout-seconds'])}s'`);
  const after = await measure(params, true);
  await db.query('ROLLBACK');

  const cell = (r: Result | undefined, k: 'median' | 'p95') =>
    r === undefined ? '—' : r === 'timeout' ? `> ${args['timeout-seconds']} s` : ms(r[k]);
  const rows = names.map((n) => {
    const [b, a] = [before.get(n), after.get(n)];
    const ratio =
      b && a && b !== 'timeout' && a !== 'timeout'
        ? `${(a.median / b.median).toFixed(1)}×`
        : a === 'timeout'
          ? '∞'
          : '—';
    const count = (r: Result | undefined) => (r && r !== 'timeout' ? String(r.n) : '0');
    return [n, count(b), cell(b, 'median'), cell(b, 'p95'), count(a), cell(a, 'median'), cell(a, 'p95'), ratio];
  });
  out();
  out(table(['query', 'n', 'with median', 'p95', 'n', 'without median', 'p95', 'without/with'], rows));
  out('(round trips in ms)');
} finally {
  await db.end();
}
