/**
 * Operators' commands for the CDC service.
 *
 *   node services/cdc/src/cli.ts snapshot public.users [public.profiles …]
 *
 * Asks the running service to republish every row of these tables (`op: r`) while it keeps streaming: the request
 * travels through the WAL, so it is seen in commit order by whichever process holds the slot.
 */
import pg from 'pg';
import { loadEnvOrExit } from '@bgc/config/env';
import { cdcEnv } from './config.ts';
import { parseSignal } from './snapshot-signal.ts';
import { SIGNAL_PREFIX } from './snapshot.ts';
import { publishedTables } from './source-setup.ts';

const [command, ...tables] = process.argv.slice(2);
if (command !== 'snapshot' || tables.length === 0) {
  process.stderr.write('usage: node services/cdc/src/cli.ts snapshot <schema.table> [<schema.table> …]\n');
  process.exit(2);
}
const config = loadEnvOrExit(cdcEnv);
const db = new pg.Client({ connectionString: config.DB_CDC_URL, application_name: 'cdc-cli' });
await db.connect();
try {
  const content = JSON.stringify({ type: 'snapshot', tables });
  const check = parseSignal(content, await publishedTables(db, config.CDC_PUBLICATION));
  if (!check.ok) {
    process.stderr.write(`refused: ${check.reason} (publication ${config.CDC_PUBLICATION})\n`);
    process.exitCode = 2;
  } else {
    const { rows } = await db.query<{ lsn: string }>(`SELECT pg_logical_emit_message(true, $1, $2)::text AS lsn`, [
      SIGNAL_PREFIX,
      content,
    ]);
    process.stdout.write(
      `snapshot of ${check.tables.join(', ')} requested at ${rows[0]?.lsn}; follow it with ` +
        `cdc_events_total{op="read"} on the service's /metrics or "snapshot published" in its log\n`,
    );
  }
} finally {
  await db.end();
}
