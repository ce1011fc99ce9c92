/**
 * Runs the CDC service as its own process (its entry point, config from the environment, tracing on) against a
 * test context's database, with a slot and topic prefix of the context's own. `kill()` is kill -9.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from '@bgc/testkit/context';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.ts');

export interface RunningCdc extends AsyncDisposable {
  pid: number;
  metricsUrl: string;
  logs: string[];
  /** SIGTERM; resolves with the exit code */
  stop(): Promise<number | null>;
  /** SIGKILL: no chance to flush or acknowledge anything */
  kill(): Promise<void>;
}

export const cdcNames = (ctx: TestContext) => ({
  slot: `cdc_${ctx.id.replace(/[^a-z0-9]/g, '_')}`,
  prefix: ctx.topicPrefix.replace(/\.$/, ''),
});

export async function startCdc(
  ctx: TestContext,
  env: Record<string, string> = {},
  { waitForSnapshot = true } = {},
): Promise<RunningCdc> {
  const { slot, prefix } = cdcNames(ctx);
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      BGC_DB_CDC_URL: ctx.roleUrl('cdc'),
      BGC_KAFKA_BROKERS: ctx.urls.kafkaBrokers.join(','),
      BGC_CDC_SLOT: slot,
      BGC_CDC_TOPIC_PREFIX: prefix,
      BGC_CDC_METRICS_PORT: '0',
      BGC_OTLP_URL: ctx.urls.otlpUrl,
      BGC_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let url: string | undefined;
  let streaming = false;
  const metricsUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cdc did not start:\n${logs.join('\n')}`)), 30_000);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        logs.push(line);
        const m = /"url":"(http:\/\/[^"]+)"/.exec(line);
        if (m?.[1]) url = m[1];
        // the slot exists from here on: every write after this point is streamed; a new slot first publishes the
        // snapshot of what the database already holds (tests wait for it unless they ask not to)
        if (line.includes('"msg":"streaming"')) streaming = !line.includes('"snapshot":{') || !waitForSnapshot;
        if (line.includes('"msg":"snapshot published"')) streaming = true;
        if (url && streaming) {
          clearTimeout(timer);
          resolve(url);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`cdc exited with ${code}:\n${logs.join('\n')}`)));
  }).catch((err: unknown) => {
    child.kill('SIGKILL'); // a service that did not start must not outlive the test
    throw err;
  });
  let stopped: Promise<number | null> | undefined;
  const stop = () => {
    stopped ??= (child.kill('SIGTERM'), exited);
    return stopped;
  };
  const kill = async () => {
    stopped ??= (child.kill('SIGKILL'), exited);
    await stopped;
  };
  return {
    pid: child.pid ?? 0,
    metricsUrl,
    logs,
    stop,
    kill,
    [Symbol.asyncDispose]: async () => void (await stop()),
  };
}
