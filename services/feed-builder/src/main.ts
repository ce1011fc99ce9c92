/** Entry point: config first (a bad value stops here), tracing before kafkajs, pg and ioredis load, then the service. */
import { loadEnvOrExit } from '@bgc/config/env';
import { startTracing } from '@bgc/telemetry/tracing';
import { feedBuilderEnv } from './config.ts';

const config = loadEnvOrExit(feedBuilderEnv);
const tracing = startTracing({
  serviceName: 'feed-builder',
  otlpUrl: config.OTLP_URL,
  sampleRatio: config.TRACE_SAMPLE_RATIO,
});
const { FeedBuilder } = await import('./service.ts');
const { runService } = await import('@bgc/runtime/service');
await runService(new FeedBuilder(config));
await tracing.shutdown();
