import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, test } from 'vitest';
import { registerScrapeTarget } from '@bgc/local-stack/prometheus';
import { stackEndpoints } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';

// Prometheus scrapes every 5 s and re-reads file discovery every 5 s: give it a few rounds
const scrapes = { timeoutMs: 45_000, intervalMs: 500 };

interface Target {
  labels: Record<string, string>;
  health: string;
}

async function targets(prometheusUrl: string): Promise<Target[]> {
  const res = (await (await fetch(`${prometheusUrl}/api/v1/targets`)).json()) as { data: { activeTargets: Target[] } };
  return res.data.activeTargets;
}

describe('prometheus', () => {
  test('is up and reports its targets healthy: itself and Jaeger', async () => {
    const { prometheusUrl } = stackEndpoints();
    const jobs = await eventually(
      'prometheus and jaeger targets up',
      async () => {
        const t = await targets(prometheusUrl);
        const up = ['prometheus', 'jaeger'].every((job) => t.some((x) => x.labels.job === job && x.health === 'up'));
        return up ? t.map((x) => x.labels.job) : undefined;
      },
      scrapes,
    );
    expect(jobs).toEqual(expect.arrayContaining(['prometheus', 'jaeger']));
  });

  test('scrapes a service registered through file discovery, without a restart', async () => {
    const { prometheusUrl } = stackEndpoints();
    const value = Math.floor(Math.random() * 1e6);
    const server = http.createServer((_, res) => {
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(`# TYPE bgc_test_marker gauge\nbgc_test_marker ${value}\n`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const name = `test-${port}`;
    const unregister = registerScrapeTarget(name, `127.0.0.1:${port}`);
    try {
      const scraped = await eventually(
        'the registered target to be scraped',
        async () => {
          const q = `bgc_test_marker{service="${name}"}`;
          const res = (await (await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as {
            data: { result: { value: [number, string] }[] };
          };
          return res.data.result[0]?.value[1];
        },
        scrapes,
      );
      expect(Number(scraped)).toBe(value);
    } finally {
      unregister();
      server.close();
    }
  });
});
