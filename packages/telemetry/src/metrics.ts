/** A Prometheus registry per service, with the process's default metrics, served as text on /metrics. */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { spansDropped, spansExported } from './span-export-metrics.ts';

export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  registry.registerMetric(spansExported);
  registry.registerMetric(spansDropped);
  return registry;
}
