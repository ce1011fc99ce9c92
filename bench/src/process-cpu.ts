/**
 * CPU time of every process on the machine, grouped by what it is (a service, Kafka, Postgres backends, …), so a
 * benchmark can say where the cores went during a phase: "the write API took 1.2 ms of CPU per request, Kafka 0.4".
 * Read from /proc (user + system clock ticks); a process that ends during the phase loses its share, so load
 * generators that exit (vegeta) are measured by their caller if at all.
 */
import fs from 'node:fs';

const TICKS_PER_SECOND = 100;

/**
 * A process's name and CPU seconds (user + system) so far, from /proc/<pid>/stat: utime and stime are the 14th and
 * 15th fields, counted after the name, which is in parentheses and may hold spaces. Throws if the process is gone.
 */
function readStat(pid: number | string): { comm: string; seconds: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, close),
    seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
  };
}

/** CPU seconds (user + system) one process has used so far; NaN when it cannot be read (gone, or not Linux). */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    return readStat(pid).seconds;
  } catch {
    return NaN;
  }
}

/** What a process is, from its command line: our services by name, the stack's daemons by program. */
function groupOf(rawCmdline: string, comm: string): string {
  const [program = '', script = ''] = rawCmdline.split('\0');
  const cmdline = rawCmdline.replaceAll('\0', ' ');
  const service = /services\/([\w-]+)\/src\//.exec(cmdline);
  if (service?.[1]) return service[1];
  if (cmdline.startsWith('postgres: ')) {
    if (cmdline.includes('walsender')) return 'postgres wal senders';
    if (/checkpointer|background writer|walwriter|autovacuum|startup|walreceiver|logical replication/.test(cmdline)) {
      return 'postgres background';
    }
    return 'postgres backends';
  }
  if (cmdline.includes('kafka.Kafka') || (comm === 'java' && cmdline.includes('kafka'))) return 'kafka';
  const name = program.split('/').pop() || comm;
  if (name === 'postgres') return 'postgres background';
  if (name === 'node' && script) return `node ${script.split('/').pop() ?? ''}`;
  if (comm.startsWith('kworker') || comm.startsWith('ksoftirqd')) return 'kernel threads';
  return name;
}

/** Every live process: its group and the CPU seconds it has used so far, by pid. */
export function cpuSnapshot(): Map<string, { group: string; seconds: number }> {
  const out = new Map<string, { group: string; seconds: number }>();
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const { comm, seconds } = readStat(pid);
      out.set(pid, { group: groupOf(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), comm), seconds });
    } catch {
      // the process ended while we read it
    }
  }
  return out;
}

/**
 * CPU seconds each group used between two snapshots taken by pid, largest first: a process alive at the end counts
 * what it used since the first (all of it if it started since); one that ended meanwhile counts nothing, instead of
 * taking its earlier CPU away from its group's total as a difference of group totals would (test runs start and
 * end node processes of the services' groups all the time).
 */
export function cpuBetweenSnapshots(
  before: Map<string, { group: string; seconds: number }>,
  after: Map<string, { group: string; seconds: number }>,
): [string, number][] {
  const totals = new Map<string, number>();
  for (const [pid, { group, seconds }] of after) {
    const used = seconds - (before.get(pid)?.seconds ?? 0);
    if (used > 0) totals.set(group, (totals.get(group) ?? 0) + used);
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
}

/** "write-api 1.21, kafka 0.40, …": milliseconds of CPU per unit of work for the top groups. */
export function perUnit(used: [string, number][], units: number, top = 8): string {
  const shown = used.slice(0, top).map(([group, s]) => `${group} ${((s * 1000) / units).toFixed(2)}`);
  const total = used.reduce((sum, [, s]) => sum + s, 0);
  return `${shown.join(', ')}; all processes ${((total * 1000) / units).toFixed(2)}`;
}

/**
 * CPU seconds the whole machine has been busy so far and its CPU seconds in all, from /proc/stat: every process
 * counted, those that ended too (a load generator) and the kernel's own work.
 */
export function machineCpu(): { busy: number; total: number } {
  const [, ...fields] = (fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields.map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / TICKS_PER_SECOND, total: (busy + idle + iowait) / TICKS_PER_SECOND };
}
