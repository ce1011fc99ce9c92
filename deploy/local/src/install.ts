/** Installs what the stack runs: Debian packages, the Kafka broker's jars from Maven Central, Jaeger built by Go. */
import fs from 'node:fs';
import path from 'node:path';
import { StackError } from './errors.ts';
import { exec } from './proc.ts';
import { withProgress } from './progress.ts';
import type { AptBinary } from './component.ts';

function onPath(bin: string): boolean {
  if (path.isAbsolute(bin)) return fs.existsSync(bin);
  return (process.env.PATH ?? '').split(':').some((dir) => dir && fs.existsSync(path.join(dir, bin)));
}

/** Installs, in one apt-get run, every package whose program is missing. */
export async function ensureAptPackages(wanted: readonly AptBinary[]): Promise<void> {
  const missing = [...new Set(wanted.filter((w) => !onPath(w.bin)).map((w) => w.pkg))];
  if (missing.length === 0) return;
  const root = process.getuid?.() === 0;
  const sudo = root ? [] : ['sudo', '-n'];
  const fix = `run as root: apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (!root && !onPath('sudo')) {
    throw new StackError({ code: 'APT_NOT_ROOT', component: 'install', message: `missing ${missing.join(', ')}`, fix });
  }
  await withProgress(`apt:${missing.join(',')}`, `apt-get install ${missing.join(' ')}`, 60_000, async () => {
    const run = (args: string[]) =>
      exec(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(root ? [] : ['apt-get']), ...args], {
        env: { DEBIAN_FRONTEND: 'noninteractive' },
        timeoutMs: 15 * 60_000,
      });
    const update = await run(['update']);
    const install = await run(['install', '-y', '--no-install-recommends', ...missing]);
    if (install.code !== 0) {
      throw new StackError({
        code: 'APT_FAILED',
        component: 'install',
        message: `apt-get install ${missing.join(' ')} failed: ${(install.stderr || update.stderr).trim().split('\n').slice(-3).join(' | ')}`,
        fix,
      });
    }
  });
  const still = wanted.filter((w) => !onPath(w.bin));
  if (still.length > 0) {
    throw new StackError({
      code: 'APT_NO_BINARY',
      component: 'install',
      message: `installed, but still missing: ${still.map((s) => s.bin).join(', ')}`,
      fix: `check the package contents with dpkg -L ${still[0]?.pkg ?? ''}`,
    });
  }
}

/** Runs a build into `dir.partial`, then renames it, so an interrupted build never looks complete. */
export async function buildOnce(dir: string, build: (partial: string) => Promise<void>): Promise<void> {
  if (fs.existsSync(path.join(dir, '.complete'))) return;
  const partial = `${dir}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(partial, { recursive: true });
  await build(partial);
  fs.writeFileSync(path.join(partial, '.complete'), new Date().toISOString());
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(partial, dir);
}

export function goBinary(): string | undefined {
  for (const candidate of ['/usr/local/go/bin/go', ...(process.env.PATH ?? '').split(':').map((d) => `${d}/go`)]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}
