/** Child processes of the stack: one-shot commands, detached daemons with pid files, ports and waiting. */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOG_DIR, RUN_DIR } from './settings.ts';

export interface RunAs {
  uid: number;
  gid: number;
  home: string;
}

/** Postgres and PgBouncer refuse to run as root: when we are root, they run as the `postgres` user. */
export function serviceUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) return undefined;
  const [, , uid, gid, , home] = line.split(':');
  return { uid: Number(uid), gid: Number(gid), home: home ?? '/var/lib/postgresql' };
}

export function chownTree(dir: string, user: RunAs | undefined): void {
  if (!user) return;
  execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function exec(
  cmd: string,
  args: string[],
  opts: { user?: RunAs | undefined; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...(opts.user ? { HOME: opts.user.home } : {}), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
      timeout: opts.timeoutMs ?? 10 * 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export function logFileOf(name: string): string {
  return path.join(LOG_DIR, `${name}.log`);
}

const pidFileOf = (name: string) => path.join(RUN_DIR, `${name}.pid`);

/** Starts a long-running process detached from us, its output appended to the component's log file. */
export function startDaemon(opts: {
  name: string;
  cmd: string;
  args: string[];
  user?: RunAs | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}): number {
  fs.mkdirSync(RUN_DIR, { recursive: true });
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const log = fs.openSync(logFileOf(opts.name), 'a');
  const child = spawn(opts.cmd, opts.args, {
    cwd: opts.cwd,
    env: { ...process.env, ...(opts.user ? { HOME: opts.user.home } : {}), ...opts.env },
    stdio: ['ignore', log, log],
    detached: true,
    ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
  });
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`could not spawn ${opts.cmd}`);
  child.unref();
  fs.writeFileSync(pidFileOf(opts.name), `${child.pid}\n`);
  return child.pid;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

/** The pid of a daemon we started, if it is still alive and still runs the program we started. */
export function daemonPid(name: string, expectedInCmdline: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFileOf(name), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!pid || !isAlive(pid)) return undefined;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(expectedInCmdline) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM, then SIGKILL after the grace period; removes the pid file. Returns whether something was stopped. */
export async function stopDaemon(name: string, expectedInCmdline: string, graceMs = 20_000): Promise<boolean> {
  const pid = daemonPid(name, expectedInCmdline);
  fs.rmSync(pidFileOf(name), { force: true });
  if (pid === undefined) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      await sleep(200);
      break;
    }
    await sleep(100);
  }
  return true;
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Who listens on a port, for error messages ("port 25432 is in use by postgres (pid 123)"). */
export async function portOwner(port: number): Promise<string> {
  const r = await exec('ss', ['-ltnpH', `sport = :${port}`]).catch(() => undefined);
  const m = r?.stdout.match(/users:\(\("([^"]+)",pid=(\d+)/);
  return m ? `${m[1]} (pid ${m[2]})` : 'another process';
}

export async function waitUntil(
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; stillAlive?: () => boolean },
): Promise<boolean> {
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    if (opts.stillAlive && !opts.stillAlive()) return false;
    await sleep(opts.intervalMs ?? 250);
  }
  return false;
}

export function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function render(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = vars[key];
    if (v === undefined) throw new Error(`template variable ${key} has no value`);
    return String(v);
  });
}
