/**
 * One of the project's own services (services/<name>/src/main.ts) run as a local process: the same entry point and
 * BGC_* configuration as in production, its log under .stack/logs, its /metrics registered with Prometheus.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LOCAL_HOST } from '@bgc/config/local-stack';
import type { Health } from '../component.ts';
import { REPO_ROOT, RUN_DIR } from '../settings.ts';
import { DaemonComponent } from './daemon.ts';
import { registerScrapeTarget } from './prometheus.ts';

export class NodeService extends DaemonComponent {
  readonly name: string;
  readonly port: number;
  readonly after: readonly string[];
  readonly apt = [];
  /** how it is run, from the repository's root: `node [flags] services/<name>/src/main.ts` (compose runs the same) */
  readonly command: readonly string[];
  readonly #env: NodeJS.ProcessEnv;
  readonly #nodeFlags: readonly string[];
  readonly #entry: string;

  constructor(opts: { name: string; port: number; after: string[]; env: NodeJS.ProcessEnv; nodeFlags?: string[] }) {
    super();
    this.name = opts.name;
    this.port = opts.port;
    this.after = opts.after;
    this.#env = opts.env;
    this.#nodeFlags = opts.nodeFlags ?? [];
    this.#entry = path.join(REPO_ROOT, 'services', opts.name, 'src', 'main.ts');
    this.command = ['node', ...this.#nodeFlags, path.relative(REPO_ROOT, this.#entry)];
  }

  /**
   * A running service started from older code is restarted, so `./bgc start` after a pull or an edit runs what is
   * in the tree: the code's fingerprint (newest modification time under the service's and the packages' sources)
   * is kept beside its pid file.
   */
  override async start(): Promise<'started' | 'running'> {
    const stamp = path.join(RUN_DIR, `${this.name}.code`);
    const code = codeFingerprint(this.name);
    // no stamp: started before stamps existed, its code unknown: restart it too
    const running = fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8') : undefined;
    if (running !== code) await this.stop();
    const outcome = await super.start();
    if (outcome === 'started') fs.writeFileSync(stamp, code);
    return outcome;
  }

  protected program() {
    return { cmd: process.execPath, args: [...this.#nodeFlags, this.#entry], env: this.#env, match: this.#entry };
  }

  protected configure(): void {
    registerScrapeTarget(this.name, `${LOCAL_HOST}:${this.port}`);
  }

  async health(): Promise<Health> {
    try {
      const res = await fetch(`http://${LOCAL_HOST}:${this.port}/healthz`, { signal: AbortSignal.timeout(2000) });
      return {
        ok: res.ok,
        detail: res.ok ? `serving, /metrics scraped by Prometheus` : `/healthz answered ${res.status}`,
      };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }
}

/** Newest modification time of the TypeScript a service runs: its own sources and the shared packages'. */
function codeFingerprint(service: string): string {
  let newest = 0;
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  walk(path.join(REPO_ROOT, 'services', service, 'src'));
  for (const pkg of fs.readdirSync(path.join(REPO_ROOT, 'packages'))) {
    const src = path.join(REPO_ROOT, 'packages', pkg, 'src');
    if (fs.existsSync(src)) walk(src);
  }
  return String(newest);
}
