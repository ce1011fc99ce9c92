/**
 * `./bgc db <command>`: the database's lifecycle for operators.
 *   setup                 bootstrap roles and privileges (as the superuser of BGC_PG_URL), migrate, maintain partitions
 *   migrate [up|down] [N] apply pending migrations, or undo the last N (default: all pending / 1)
 *   partitions            create future periods, drain DEFAULT partitions, drop expired periods
 *   status                applied and pending migrations
 */
import fs from 'node:fs';
import { databaseEnv } from '@bgc/config/database';
import { loadEnvOrExit, redactUrl } from '@bgc/config/env';
import { infraEnv } from '@bgc/config/infra';
import { migrate, MIGRATIONS_DIR } from './migrate.ts';
import { maintainPartitions } from './partitions.ts';
import { setupDatabase, withClient } from './setup.ts';

const env = loadEnvOrExit({ ...databaseEnv, PG_URL: infraEnv.PG_URL });
const out = (s: string) => process.stdout.write(`${s}\n`);

async function partitions() {
  const report = await withClient(env.DB_MIGRATOR_URL, (c) => maintainPartitions(c));
  out(`partitions: ${report.created.length} created, ${report.dropped.length} dropped`);
  for (const name of report.created) out(`  + ${name}`);
  for (const name of report.dropped) out(`  - ${name}`);
}

async function up() {
  const applied = await migrate({ databaseUrl: env.DB_MIGRATOR_URL, direction: 'up' });
  out(applied.length ? applied.map((m) => `  ↑ ${m.name}`).join('\n') : '  migrations: up to date');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'setup': {
      const r = await setupDatabase(env.PG_URL, env);
      out(`database ${r.database} at ${redactUrl(env.PG_URL)}: roles and privileges ok`);
      out(r.migrated.length ? r.migrated.map((m) => `  ↑ ${m}`).join('\n') : '  migrations: up to date');
      out(`  partitions: ${r.partitions.created.length} created, ${r.partitions.dropped.length} dropped`);
      return 0;
    }
    case 'migrate': {
      const direction = rest[0] === 'down' ? 'down' : 'up';
      if (direction === 'up') {
        await up();
        return 0;
      }
      const count = Number(rest[1] ?? 1);
      const undone = await migrate({ databaseUrl: env.DB_MIGRATOR_URL, direction, count });
      out(undone.map((m) => `  ↓ ${m.name}`).join('\n') || '  nothing to undo');
      return 0;
    }
    case 'partitions':
      await partitions();
      return 0;
    case 'status': {
      const files = fs
        .readdirSync(MIGRATIONS_DIR)
        .filter((f) => /\.(sql|ts)$/.test(f))
        .map((f) => f.replace(/\.(sql|ts)$/, ''));
      const applied = await withClient(env.DB_MIGRATOR_URL, async (c) =>
        (
          await c.query<{ name: string }>('SELECT name FROM migrations.pgmigrations').catch(() => ({ rows: [] }))
        ).rows.map((r) => r.name),
      );
      for (const f of files.sort()) out(`  ${applied.includes(f) ? '✔ applied' : '… pending'}  ${f}`);
      return 0;
    }
    default:
      out(
        fs
          .readFileSync(new URL(import.meta.url), 'utf8')
          .split('\n')
          .slice(1, 7)
          .join('\n')
          .replace(/^ \* ?/gm, ''),
      );
      return command ? 2 : 0;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`db: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
