/** Entry point: config first (a bad value stops here), tracing before pg and kafkajs load, then the service. */
import { loadEnvOrExit } from '@bgc/config/env';
import { startTracing } from '@bgc/telemetry/tracing';
import { cdcEnv } from './config.ts';

const config = loadEnvOrExit(cdcEnv);
const tracing = startTracing({ serviceName: 'cdc', otlpUrl: config.OTLP_URL, sampleRatio: config.TRACE_SAMPLE_RATIO });
const { CdcService } = await import('./service.ts');
const { runService } = await import('@bgc/runtime/service');
await runService(new CdcService(config));
await tracing.shutdown();
