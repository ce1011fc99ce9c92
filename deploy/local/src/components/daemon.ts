/** A component that is one long-running process we spawn, track by pid file and stop with SIGTERM. */
import { LOCAL_HOST } from '@bgc/config/local-stack';
import type { AptBinary, Component, Health } from '../component.ts';
import { StackError } from '../errors.ts';
import type { RunAs } from '../proc.ts';
import {
  daemonPid,
  isAlive,
  logFileOf,
  portOpen,
  portOwner,
  startDaemon,
  stopDaemon,
  tail,
  waitUntil,
} from '../proc.ts';

export interface Program {
  cmd: string;
  args: string[];
  user?: RunAs | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A string in /proc/<pid>/cmdline that proves the pid is still our process. */
  match: string;
}

export abstract class DaemonComponent implements Component {
  abstract readonly name: string;
  abstract readonly port: number;
  abstract readonly after: readonly string[];
  abstract readonly apt: readonly AptBinary[];
  protected startTimeoutMs = 60_000;

  get address() {
    return `${LOCAL_HOST}:${this.port}`;
  }

  protected abstract program(): Program;
  /** Writes the component's config into its state folder (on every start, so repo edits apply). */
  protected abstract configure(): Promise<void> | void;
  abstract health(): Promise<Health>;

  async start(): Promise<'started' | 'running'> {
    if (daemonPid(this.name, this.program().match) !== undefined) return 'running';
    if (await portOpen(this.port)) {
      throw new StackError({
        code: 'PORT_IN_USE',
        component: this.name,
        message: `port ${this.port} is in use by ${await portOwner(this.port)}`,
        fix: 'stop that process, or run ./bgc stack down in the clone that started it',
      });
    }
    await this.configure();
    const p = this.program();
    const pid = startDaemon({ name: this.name, ...p });
    const healthy = await waitUntil(async () => (await this.health()).ok, {
      timeoutMs: this.startTimeoutMs,
      intervalMs: 300,
      stillAlive: () => isAlive(pid),
    });
    if (!healthy) {
      const log = logFileOf(this.name);
      const why = isAlive(pid)
        ? `not healthy after ${this.startTimeoutMs / 1000}s: ${(await this.health()).detail}`
        : 'exited during start-up';
      throw new StackError({
        code: 'START_FAILED',
        component: this.name,
        message: `${why}\n${tail(log, 10)}`,
        fix: `read the log; ./bgc stack logs ${this.name}`,
        logFile: log,
      });
    }
    return 'started';
  }

  stop(): Promise<boolean> {
    return stopDaemon(this.name, this.program().match);
  }
}
