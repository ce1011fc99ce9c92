/**
 * Folders for the programs that run as the `postgres` user (Postgres, PgBouncer). That user must be able to reach
 * them; a clone under a private folder (mktemp -d is 0700) is out of its reach, so their folders then live under
 * /var/tmp/bgc-stack-<hash of the state folder> and .stack/<name> is a symlink to them. Each such folder names its
 * state folder (`state-folder`); one whose state folder is gone belonged to a clone that was deleted without
 * `./bgc stack reset` (a CI run's temporary clone) and is removed when a new one is made, else every run would
 * leave gigabytes of database files behind until the disk is full.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chownTree, isAlive, serviceUser } from './proc.ts';
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
    sweepDeletedClones();
    fs.writeFileSync(path.join(OUTSIDE_ROOT, OWNER_FILE), STATE_DIR);
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

const OWNER_FILE = 'state-folder';

/**
 * Removes the outside folders of clones that are gone: their state folder no longer exists and no Postgres of theirs
 * is running. A folder without an owner file (made before owners were recorded) is left alone.
 */
function sweepDeletedClones(): void {
  const parent = path.dirname(OUTSIDE_ROOT);
  for (const entry of fs.readdirSync(parent)) {
    const dir = path.join(parent, entry);
    if (!entry.startsWith('bgc-stack-') || dir === OUTSIDE_ROOT) continue;
    let owner: string;
    try {
      owner = fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8');
    } catch {
      continue;
    }
    if (fs.existsSync(owner)) continue;
    const running = ['primary', 'replica'].some((pg) => {
      try {
        const pid = Number(fs.readFileSync(path.join(dir, 'pg', pg, 'postmaster.pid'), 'utf8').split('\n')[0]);
        return pid > 0 && isAlive(pid);
      } catch {
        return false;
      }
    });
    if (!running) fs.rmSync(dir, { recursive: true, force: true });
  }
}
