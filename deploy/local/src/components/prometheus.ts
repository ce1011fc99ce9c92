/** Prometheus (Debian) scraping itself, Jaeger, and every service that registers a file under targets/. */
import fs from 'node:fs';
import path from 'node:path';
import { LOCAL_PORTS } from '@bgc/config/local-stack';
import type { Health } from '../component.ts';
import { render } from '../proc.ts';
import { CONFIG_DIR, STATE_DIR } from '../settings.ts';
import { DaemonComponent } from './daemon.ts';

const dir = path.join(STATE_DIR, 'prometheus');
export const PROMETHEUS_TARGETS_DIR = path.join(dir, 'targets');

export class Prometheus extends DaemonComponent {
  readonly name = 'prometheus';
  readonly port = LOCAL_PORTS.prometheus;
  readonly after = [];
  readonly apt = [{ bin: '/usr/bin/prometheus', pkg: 'prometheus' }];

  protected program() {
    return {
      cmd: '/usr/bin/prometheus',
      args: [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        '--storage.tsdb.retention.time=7d',
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--web.enable-lifecycle',
      ],
      match: 'prometheus.yml',
    };
  }

  protected configure(): void {
    fs.mkdirSync(PROMETHEUS_TARGETS_DIR, { recursive: true });
    const template = fs.readFileSync(path.join(CONFIG_DIR, 'prometheus', 'prometheus.yml'), 'utf8');
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      render(template, { PORT: this.port, JAEGER_METRICS_PORT: LOCAL_PORTS.jaegerMetrics, STATE_DIR: dir }),
    );
  }

  async health(): Promise<Health> {
    try {
      const ready = await fetch(`http://127.0.0.1:${this.port}/-/ready`, { signal: AbortSignal.timeout(2000) });
      return { ok: ready.ok, detail: ready.ok ? 'ready' : `/-/ready answered ${ready.status}` };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }
}

/**
 * Adds a /metrics endpoint to Prometheus's file service discovery (picked up within a few seconds, no restart).
 * Returns a function that removes it again.
 */
export function registerScrapeTarget(name: string, address: string, labels: Record<string, string> = {}): () => void {
  fs.mkdirSync(PROMETHEUS_TARGETS_DIR, { recursive: true });
  const file = path.join(PROMETHEUS_TARGETS_DIR, `${name}.json`);
  const tmp = `${file}.tmp`;
  // write then rename: Prometheus must never read a half-written file
  fs.writeFileSync(tmp, JSON.stringify([{ targets: [address], labels: { service: name, ...labels } }]));
  fs.renameSync(tmp, file);
  return () => fs.rmSync(file, { force: true });
}
