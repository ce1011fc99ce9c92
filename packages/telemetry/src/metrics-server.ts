/**
 * The small HTTP server every background service runs: `/metrics` (the registry, for Prometheus) and `/healthz`
 * (200 while `health().ok`, else 503; the JSON of `health()` as the body). The HTTP API serves them from its app.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  /** where it listens, `http://host:port` */
  url: string;
  close(): void;
}

export async function serveMetrics(
  registry: Registry,
  opts: { port: number; host: string; health: () => { ok: boolean } & Record<string, unknown> },
): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      const health = opts.health();
      res.writeHead(health.ok ? 200 : 503).end(JSON.stringify(health));
      return;
    }
    registry
      .metrics()
      .then((text) => res.setHeader('content-type', registry.contentType).end(text))
      .catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(opts.port, opts.host, resolve));
  const address = server.address() as { address: string; port: number };
  return { url: `http://${address.address}:${address.port}`, close: () => server.close() };
}
