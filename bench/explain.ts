/**
 * Prints how each production query is planned on a database (EXPLAIN ANALYZE with the sample parameters): the
 * indexes used, the partitions kept, the execution time, and what plans.pg.test.ts would object to.
 *
 *   node bench/explain.ts [--db NAME | --url URL] [--query NAME] [--text]
 *
 * --text also prints each plan as EXPLAIN (ANALYZE, BUFFERS) text.
 */
import pg from 'pg';
import { withDatabase } from '@bgc/config/database';
import { explain, partitionsKept, planProblems } from '@bgc/queries/plan';
import { productionQueries } from '@bgc/queries/queries';
import { pickSamples, sampleParams } from '@bgc/queries/samples';
import { defaultMigratorUrl } from './src/db.ts';
import { benchArgs } from './src/cli-args.ts';

const { values: args } = benchArgs({
  options: { db: { type: 'string' }, url: { type: 'string' }, query: { type: 'string' }, text: { type: 'boolean' } },
});
const url = args.db ? withDatabase(defaultMigratorUrl(), args.db) : (args.url ?? defaultMigratorUrl());
const db = new pg.Client({ connectionString: url });
await db.connect();
try {
  const samples = await pickSamples(db);
  const params = sampleParams(samples);
  for (const [name, q] of Object.entries(productionQueries)) {
    if (args.query && args.query !== name) continue;
    const p = params[name as keyof typeof params];
    const facts = await explain(db, q.text, p, { analyze: true });
    const parts = (q.plan.partitions ?? []).map((x) => {
      const kept = partitionsKept(facts, x.table);
      return `${x.table}: ${kept.total} kept (${kept.perListPartition} per category), ${facts.subplansRemoved} removed at start`;
    });
    const problems = planProblems(facts, q.plan, 10_000);
    process.stdout.write(
      `${name.padEnd(26)} ${facts.executionMs?.toFixed(2).padStart(8)} ms  indexes: ${[...facts.indexes].join(', ')}${parts.length ? `  | ${parts.join('; ')}` : ''}\n`,
    );
    for (const problem of problems) process.stdout.write(`  ✗ ${problem}\n`);
    if (args.text) {
      const { rows } = await db.query<{ 'QUERY PLAN': string }>({
        text: `EXPLAIN (ANALYZE, BUFFERS) ${q.text}`,
        values: [...p],
      });
      process.stdout.write(`${rows.map((r) => `    ${r['QUERY PLAN']}`).join('\n')}\n`);
    }
  }
} finally {
  await db.end();
}
