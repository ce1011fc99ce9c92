/**
 * Runs the operators' `rebuild` command as its own process, as an operator would, on a test context's topics, Redis
 * key prefix and projector group: resolves with its exit code and output; `kill()` is kill -9 midway.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from '@bgc/testkit/context';
import { cdcNames } from '../../cdc/test/cdc-process.ts';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/operations-cli.ts');

export interface RebuildRun {
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  output(): string;
  kill(): Promise<void>;
}

export function runRebuild(ctx: TestContext, group: string, args: string[]): RebuildRun {
  const child = spawn(process.execPath, [cli, 'rebuild', ...args], {
    env: {
      ...process.env,
      BGC_KAFKA_BROKERS: ctx.urls.kafkaBrokers.join(','),
      BGC_REDIS_URL: ctx.urls.redisUrl,
      BGC_REDIS_STORE_URL: ctx.urls.redisStoreUrl,
      BGC_PROJECTOR_TOPIC_PREFIX: cdcNames(ctx).prefix,
      BGC_PROJECTOR_KEY_PREFIX: ctx.redisPrefix,
      BGC_FEED_KEY_PREFIX: ctx.redisPrefix,
      BGC_PROJECTOR_GROUP: group,
      BGC_PROJECTOR_SESSION_TIMEOUT_MS: '6000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    done: exited.then((code) => ({ code, stdout, stderr })),
    output: () => `${stdout}\n${stderr}`,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
