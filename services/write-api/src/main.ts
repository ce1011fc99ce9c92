/** Entry point: config first (a bad value stops here), tracing before express and pg load, then the service. */
import { loadEnvOrExit } from '@bgc/config/env';
import { startTracing } from '@bgc/telemetry/tracing';
import { writeApiEnv } from './config.ts';

const config = loadEnvOrExit(writeApiEnv);
const tracing = startTracing({
  serviceName: 'write-api',
  otlpUrl: config.OTLP_URL,
  sampleRatio: config.TRACE_SAMPLE_RATIO,
});
const { WriteApi } = await import('./service.ts');
const { runService } = await import('@bgc/runtime/service');
await runService(new WriteApi(config));
await tracing.shutdown();
