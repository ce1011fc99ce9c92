/** `./bgc stack up|down|status|logs|reset` and `./bgc start`. */
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { databaseEnv } from '@bgc/config/database';
import { loadEnv } from '@bgc/config/env';
import { loadInfraConfig } from '@bgc/config/infra';
import { setupDatabase } from '@bgc/db/setup';
import { StackError } from './errors.ts';
import { logFileOf } from './proc.ts';
import { fmt } from './progress.ts';
import { demo } from './demo.ts';
import { smoke } from './smoke.ts';
import { components, down, reset, StackFailed, status, up } from './stack.ts';
import { LOG_DIR, STATE_DIR } from './settings.ts';

const out = (s: string) => process.stdout.write(`${s}\n`);
const infra = loadInfraConfig();
const usage = `usage: ./bgc stack <command>
  up              install what is missing, start every component, wait until healthy (idempotent)
  down            stop what "up" started (data is kept)
  status          each component with its address and health
  logs [name]     the last lines of a component's log (-n N lines, -f to follow); no name lists the logs
  reset           stop and delete all data (downloads and builds stay cached)
  start           up, the database set-up (roles, migrations, partitions), the services, the smoke check, then a
                  short live demo through the write and read APIs`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const t0 = Date.now();
  switch (command) {
    case 'up':
    case 'start': {
      out(`bringing up the local stack (state: ${STATE_DIR})`);
      await up(out);
      out(`stack up in ${fmt(Date.now() - t0)}`);
      if (command === 'up') return 0;
      const db = await setupDatabase(infra.PG_URL, loadEnv(databaseEnv));
      out(
        `\ndatabase ${db.database}: ${db.migrated.length} migration(s) applied, ` +
          `${db.partitions.created.length} partition(s) created`,
      );
      out('\nservices');
      await up(out, { withServices: true });
      out('\nsmoke check');
      const checks = await smoke();
      for (const c of checks) out(`  ${c.ok ? '✔' : '✖'} ${c.name.padEnd(38)} ${fmt(c.ms).padStart(6)}  ${c.detail}`);
      const failed = checks.filter((c) => !c.ok).length;
      if (failed) {
        out(`\n${failed} check(s) failed`);
        return 1;
      }
      out(
        `\nall ${checks.length} checks passed\n\ndemo: the app in use, through the write API and back from the read API`,
      );
      const demoStarted = Date.now();
      await demo((s) => out(`  ✔ ${s.name.padEnd(32)} ${s.detail}`));
      out(`\ndemo done in ${fmt(Date.now() - demoStarted)}; total ${fmt(Date.now() - t0)}`);
      return 0;
    }
    case 'down':
      if ((await down(out)).length === 0) out('nothing was running');
      return 0;
    case 'reset':
      await reset(out);
      return 0;
    case 'status': {
      const rows = await status();
      for (const r of rows)
        out(`${r.health.ok ? '✔' : '✖'} ${r.name.padEnd(11)} ${r.address.padEnd(16)} ${r.health.detail}`);
      return rows.every((r) => r.health.ok) ? 0 : 3;
    }
    case 'logs': {
      const { values: opts, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { n: { type: 'string', short: 'n', default: '100' }, f: { type: 'boolean', short: 'f' } },
      });
      const name = positionals[0];
      if (!name) {
        out(`logs in ${LOG_DIR}: ${components.map((c) => c.name).join(', ')}`);
        return 0;
      }
      const file = logFileOf(name);
      if (!fs.existsSync(file)) {
        out(`no log for "${name}" at ${file}; components: ${components.map((c) => c.name).join(', ')}`);
        return 2;
      }
      const args = opts.f ? ['-n', opts.n, '-F', file] : ['-n', opts.n, file];
      return spawnSync('tail', args, { stdio: 'inherit' }).status ?? 1;
    }
    default:
      out(usage);
      return command === undefined || command === 'help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof StackFailed) {
      process.stderr.write(`\n${err.message}\n`);
    } else if (err instanceof StackError) {
      process.stderr.write(`\n${err.describe()}\n`);
    } else {
      process.stderr.write(`\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.stderr.write(`(logs: ${path.relative(process.cwd(), LOG_DIR)})\n`);
    process.exit(1);
  },
);
