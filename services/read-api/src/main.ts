/** Entry point: config first (a bad value stops here), tracing before express, pg and ioredis load, then the service. */
import { loadEnvOrExit } from '@bgc/config/env';
import { startTracing } from '@bgc/telemetry/tracing';
import { readApiEnv } from './config.ts';

const config = loadEnvOrExit(readApiEnv);
const tracing = startTracing({
  serviceName: 'read-api',
  otlpUrl: config.OTLP_URL,
  sampleRatio: config.TRACE_SAMPLE_RATIO,
});
const { ReadApi } = await import('./service.ts');
const { runService } = await import('@bgc/runtime/service');
await runService(new ReadApi(config));
await tracing.shutdown();
