/** Entry point: config first (a bad value stops here), tracing before kafkajs and ioredis load, then the service. */
import { loadEnvOrExit } from '@bgc/config/env';
import { startTracing } from '@bgc/telemetry/tracing';
import { projectorEnv } from './config.ts';

const config = loadEnvOrExit(projectorEnv);
const tracing = startTracing({
  serviceName: 'cache-projector',
  otlpUrl: config.OTLP_URL,
  sampleRatio: config.TRACE_SAMPLE_RATIO,
});
const { CacheProjector } = await import('./service.ts');
const { runService } = await import('@bgc/runtime/service');
await runService(new CacheProjector(config));
await tracing.shutdown();
