/**
 * Runs the write API as its own process, as it is deployed (its entry point, its config from the environment,
 * tracing on), against a test context's database. Dispose stops it with SIGTERM and expects a clean exit.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from '@bgc/testkit/context';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.ts');

export interface RunningApi extends AsyncDisposable {
  url: string;
  logs: string[];
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function startWriteApi(ctx: TestContext, env: Record<string, string> = {}): Promise<RunningApi> {
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      BGC_DB_WRITER_URL: ctx.roleUrl('writer'),
      BGC_WRITE_API_PORT: '0',
      BGC_OTLP_URL: ctx.urls.otlpUrl,
      BGC_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`write-api did not start:\n${logs.join('\n')}`)), 20_000);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        logs.push(line);
        const m = /"url":"(http:\/\/[^"]+)"/.exec(line);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`write-api exited with ${code}:\n${logs.join('\n')}`)));
  });
  let stopped: Promise<number | null> | undefined;
  const stop = () => {
    stopped ??= (child.kill('SIGTERM'), exited);
    return stopped;
  };
  return { url, logs, stop, [Symbol.asyncDispose]: async () => void (await stop()) };
}
