/**
 * Folders for the programs that run as the `postgres` user (Postgres, PgBouncer). That user must be able to reach
 * them; a clone under a private folder (mktemp -d is 0700) is out of its reach, so their folders then live under
 * /var/tmp/bgc-stack-<hash of the state folder> and .stack/<name> is a symlink to them.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chownTree, serviceUser } from './proc.ts';
import { STATE_DIR } from './settings.ts';

const user = serviceUser();
export const OUTSIDE_ROOT = path.join(
  '/var/tmp',
  `bgc-stack-${crypto.createHash('sha1').update(STATE_DIR).digest('hex').slice(0, 12)}`,
);

export function serviceDir(name: string): string {
  const inState = path.join(STATE_DIR, name);
  if (fs.existsSync(inState)) return fs.realpathSync(inState);
  fs.mkdirSync(STATE_DIR, { recursive: true });
  let target = inState;
  if (user && !reachableByOthers(STATE_DIR)) {
    target = path.join(OUTSIDE_ROOT, name);
    // no link yet means a new state folder: whatever an earlier clone at the same path left there is not ours
    fs.rmSync(target, { recursive: true, force: true });
    fs.mkdirSync(target, { recursive: true });
    fs.symlinkSync(target, inState);
  }
  fs.mkdirSync(target, { recursive: true });
  chownTree(target, user);
  return target;
}

/** Every ancestor must be searchable by "others": the postgres user is neither owner nor group of a root clone. */
function reachableByOthers(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(d) && (fs.statSync(d).mode & 0o001) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}
