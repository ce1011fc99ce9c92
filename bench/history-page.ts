/**
 * Chat history page of 50, keyset against OFFSET, at several depths of the busiest room, in one run on one
 * connection, beside the machine's ceiling measured in the same run by pgbench.
 *
 *   node bench/history-page.ts [--db NAME | --url URL] [--iterations 200] [--depths 0,1000,10000,100000]
 *                              [--budget-seconds 10] [--pgbench-seconds 10]
 *
 * Method: for each depth, the keyset cursor is the row just above that depth (read once, untimed). Then keyset
 * (page.ts history(): the production path, windowed query + cursor) and OFFSET (roomHistoryOffset) alternate, each
 * timed as a client round trip on the same connection (performance.now around the awaited query), after 5 warm-up
 * runs each; a depth stops at --iterations pairs or --budget-seconds. One EXPLAIN (ANALYZE, BUFFERS) per method and
 * depth gives the server-side execution time and the buffers touched. pgbench -S (select-only, built-in script) on
 * the same database, in a schema of its own that is dropped afterwards: 1 client (the same shape as the loop
 * above), then 4 clients on 2 threads (throughput); and the keyset page as a pgbench script with 4 clients.
 */
import { history } from '@bgc/queries/page';
import { explain } from '@bgc/queries/plan';
import { roomHistoryAfter, roomHistoryFirst, roomHistoryOffset } from '@bgc/queries/queries';
import { run } from '@bgc/queries/query';
import { connect, libpqEnv, ms, runProgram, summarize, table, time } from './src/stats.ts';
import { benchArgs } from './src/cli-args.ts';

const { values: args } = benchArgs({
  options: {
    db: { type: 'string' },
    url: { type: 'string' },
    iterations: { type: 'string', default: '200' },
    depths: { type: 'string', default: '0,1000,10000,100000' },
    'budget-seconds': { type: 'string', default: '10' },
    'pgbench-seconds': { type: 'string', default: '10' },
  },
});
const LIMIT = 50;
const out = (s = '') => process.stdout.write(`${s}\n`);
const { client: db, url } = await connect(args);

try {
  const busiest = await db.query<{ room_id: string; n: number }>(
    `SELECT room_id, count(*)::int AS n FROM messages WHERE room_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1`,
  );
  const { room_id: room, n: total } = busiest.rows[0]!;
  const { rows: ver } = await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
  out(`# history page of ${LIMIT}: keyset vs OFFSET (PostgreSQL ${ver[0]!.v}, ${new Date().toISOString()})`);
  out(`room ${room} holds ${total.toLocaleString('en-US')} messages`);
  out(
    'method: alternating client round trips on one connection after 5 warm-ups each; keyset = page.ts history() ' +
      '(windowed keyset query, cursor at the depth), OFFSET = roomHistoryOffset; server time and buffers from one ' +
      'EXPLAIN (ANALYZE, BUFFERS) each',
  );
  const depths = args.depths
    .split(',')
    .map(Number)
    .filter((d) => d + LIMIT <= total);
  const rows: string[][] = [];
  for (const depth of depths) {
    let cursor: string | null = null;
    let cursorRow: { cursor_t: string; id: string } | null = null;
    if (depth > 0) {
      const [row] = await run(db, roomHistoryOffset, [room, 1, depth - 1]);
      cursorRow = row!;
      cursor = Buffer.from(JSON.stringify({ t: row!.cursor_t, id: row!.id })).toString('base64url');
    }
    const keyset = () => history(db, 'room', room, { cursor, limit: LIMIT });
    const offset = () => run(db, roomHistoryOffset, [room, LIMIT, depth]);
    const [a, b] = [await keyset(), await offset()];
    if (a.items.map((m) => m.id).join() !== b.map((m) => m.id).join()) throw new Error(`pages differ at ${depth}`);
    for (let i = 0; i < 5; i++) {
      await keyset();
      await offset();
    }
    const ks: number[] = [];
    const os: number[] = [];
    const deadline = performance.now() + Number(args['budget-seconds']) * 1000;
    for (let i = 0; i < Number(args.iterations) && (i < 20 || performance.now() < deadline); i++) {
      ks.push(await time(keyset));
      os.push(await time(offset));
    }
    const now = Date.now();
    const kPlan = cursorRow
      ? await explain(
          db,
          roomHistoryAfter.text,
          [
            room,
            cursorRow.cursor_t,
            cursorRow.id,
            LIMIT + 1,
            new Date(Date.parse(cursorRow.cursor_t) - 31 * 86_400_000),
          ],
          { analyze: true },
        )
      : await explain(
          db,
          roomHistoryFirst.text,
          [room, LIMIT + 1, new Date(now - 31 * 86_400_000), new Date(now + 60_000)],
          {
            analyze: true,
          },
        );
    const oPlan = await explain(db, roomHistoryOffset.text, [room, LIMIT, depth], { analyze: true });
    const [k, o] = [summarize(ks), summarize(os)];
    rows.push([
      depth.toLocaleString('en-US'),
      String(k.n),
      ms(k.median),
      ms(k.p95),
      ms(k.p99),
      ms(o.median),
      ms(o.p95),
      ms(o.p99),
      `${(o.median / k.median).toFixed(1)}×`,
      `${ms(kPlan.executionMs ?? NaN)} / ${ms(oPlan.executionMs ?? NaN)}`,
      `${buffers(kPlan.json)} / ${buffers(oPlan.json)}`,
    ]);
    process.stderr.write(`depth ${depth}: done\n`);
  }
  out();
  out(
    table(
      [
        'depth',
        'n',
        'keyset median',
        'p95',
        'p99',
        'OFFSET median',
        'p95',
        'p99',
        'OFFSET/keyset',
        'server ms k/o',
        'buffers k/o',
      ],
      rows,
    ),
  );
  out('(round trips in ms)');
  await pgbenchCeiling(url, room);
} finally {
  await db.end();
}

function buffers(plan: unknown): string {
  const p = (plan as { Plan?: { 'Shared Hit Blocks'?: number; 'Shared Read Blocks'?: number } }).Plan;
  return String((p?.['Shared Hit Blocks'] ?? 0) + (p?.['Shared Read Blocks'] ?? 0));
}

async function pgbenchCeiling(url: string, room: string) {
  const seconds = args['pgbench-seconds'];
  const env = { ...libpqEnv(url), PGOPTIONS: '-c search_path=bench_pgbench,public' };
  await db.query('DROP SCHEMA IF EXISTS bench_pgbench CASCADE; CREATE SCHEMA bench_pgbench');
  try {
    await runProgram('pgbench', ['-i', '-q', '-s', '5', '--no-vacuum'], env);
    await db.query('VACUUM ANALYZE bench_pgbench.pgbench_accounts, bench_pgbench.pgbench_branches');
    const tps = (s: string) => Number(/tps = ([\d.]+)/.exec(s)?.[1] ?? NaN).toFixed(0);
    const lat = (s: string) => /latency average = ([\d.]+) ms/.exec(s)?.[1] ?? '?';
    const one = await runProgram('pgbench', ['-S', '-n', '-c', '1', '-j', '1', '-T', seconds], env);
    const four = await runProgram('pgbench', ['-S', '-n', '-c', '4', '-j', '2', '-T', seconds], env);
    // the production first page as a pgbench script (simple protocol: planned per execution, like unnamed statements)
    const script = `/tmp/bgc-history-page-${process.pid}.sql`;
    const first = roomHistoryFirst.text
      .replace('$1', `'${room}'`)
      .replace('$2', String(LIMIT + 1))
      .replace('$3::timestamptz', `now() - interval '31 days'`)
      .replace('$4::timestamptz', `now() + interval '1 minute'`);
    const fs = await import('node:fs/promises');
    await fs.writeFile(script, `${first};\n`);
    const page = await runProgram('pgbench', ['-n', '-c', '4', '-j', '2', '-T', seconds, '-f', script], env).finally(
      () => fs.rm(script, { force: true }),
    );
    out();
    out(`pgbench in the same run, same database (scale 5, ${seconds} s each):`);
    out(
      table(
        ['pgbench', 'tps', 'latency avg ms'],
        [
          ['-S select-only, 1 client', tps(one), lat(one)],
          ['-S select-only, 4 clients / 2 threads', tps(four), lat(four)],
          ['first history page (script), 4 clients / 2 threads', tps(page), lat(page)],
        ],
      ),
    );
  } finally {
    await db.query('DROP SCHEMA IF EXISTS bench_pgbench CASCADE');
  }
}
