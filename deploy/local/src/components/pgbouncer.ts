/** PgBouncer (Debian) in transaction-pooling mode in front of the primary, for the APIs. */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { LOCAL_CREDENTIALS as C, LOCAL_HOST, LOCAL_PORTS } from '@bgc/config/local-stack';
import type { Health } from '../component.ts';
import { chownTree, render, serviceUser } from '../proc.ts';
import { serviceDir } from '../service-dirs.ts';
import { CONFIG_DIR } from '../settings.ts';
import { DaemonComponent } from './daemon.ts';

const user = serviceUser();

export class PgBouncer extends DaemonComponent {
  readonly name = 'pgbouncer';
  readonly port = LOCAL_PORTS.pgbouncer;
  readonly after = ['postgres'];
  readonly apt = [{ bin: '/usr/sbin/pgbouncer', pkg: 'pgbouncer' }];

  protected program() {
    // PgBouncer, like Postgres, refuses to run as root
    const ini = path.join(serviceDir('pgbouncer'), 'pgbouncer.ini');
    return { cmd: '/usr/sbin/pgbouncer', args: [ini], user, cwd: serviceDir('pgbouncer'), match: 'pgbouncer.ini' };
  }

  protected configure(): void {
    const dir = serviceDir('pgbouncer');
    const template = fs.readFileSync(path.join(CONFIG_DIR, 'pgbouncer', 'pgbouncer.ini'), 'utf8');
    fs.writeFileSync(
      path.join(dir, 'pgbouncer.ini'),
      render(template, { PORT: this.port, PG_PORT: LOCAL_PORTS.postgresPrimary, STATE_DIR: dir }),
    );
    // only the auth user (for auth_query) and the admin console's user are listed; every other role is looked up
    fs.writeFileSync(
      path.join(dir, 'userlist.txt'),
      `"${C.pgbouncerAuthUser}" "${C.pgbouncerAuthPassword}"\n"${C.superuser}" "${C.superuserPassword}"\n`,
      { mode: 0o600 },
    );
    chownTree(dir, user);
  }

  async health(): Promise<Health> {
    const client = new pg.Client({
      connectionString: `postgres://${C.superuser}:${C.superuserPassword}@${LOCAL_HOST}:${this.port}/${C.database}`,
      connectionTimeoutMillis: 2000,
    });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return { ok: true, detail: `transaction pooling in front of ${LOCAL_HOST}:${LOCAL_PORTS.postgresPrimary}` };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
