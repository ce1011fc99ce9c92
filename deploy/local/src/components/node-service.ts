/**
 * One of the project's own services (services/<name>/src/main.ts) run as a local process: the same entry point and
 * BGC_* configuration as in production, its log under .stack/logs, its /metrics registered with Prometheus.
 */
import path from 'node:path';
import { LOCAL_HOST } from '@bgc/config/local-stack';
import type { Health } from '../component.ts';
import { REPO_ROOT } from '../settings.ts';
import { DaemonComponent } from './daemon.ts';
import { registerScrapeTarget } from './prometheus.ts';

export class NodeService extends DaemonComponent {
  readonly name: string;
  readonly port: number;
  readonly after: readonly string[];
  readonly apt = [];
  readonly #env: NodeJS.ProcessEnv;
  readonly #entry: string;

  constructor(opts: { name: string; port: number; after: string[]; env: NodeJS.ProcessEnv }) {
    super();
    this.name = opts.name;
    this.port = opts.port;
    this.after = opts.after;
    this.#env = opts.env;
    this.#entry = path.join(REPO_ROOT, 'services', opts.name, 'src', 'main.ts');
  }

  protected program() {
    return { cmd: process.execPath, args: [this.#entry], env: this.#env, match: this.#entry };
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
