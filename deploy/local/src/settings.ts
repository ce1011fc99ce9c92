/** The stack manager's own settings, read once from the environment. */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadEnv } from '@bgc/config/env';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '../../..');
export const CONFIG_DIR = path.resolve(here, '../config');

const env = loadEnv({
  /** Where data, logs and pid files live (git-ignored). */
  STACK_DIR: z.string().default(path.join(REPO_ROOT, '.stack')).describe('a directory path'),
  /** Downloaded jars and built binaries, shared by every clone on the machine. */
  CACHE_DIR: z
    .string()
    .default(path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'bgc-replica'))
    .describe('a directory path'),
  /** The cache Redis's memory limit (its `maxmemory`); past it, keys are evicted (allkeys-lfu). */
  REDIS_CACHE_MAXMEMORY: z
    .string()
    .regex(/^[1-9]\d*(?:[kmg]b?)?$/i)
    .default('256mb')
    .describe('a Redis memory size above 0, such as 256mb or 1gb'),
});

export const STATE_DIR = path.resolve(env.STACK_DIR);
export const CACHE_DIR = path.resolve(env.CACHE_DIR);
export const RUN_DIR = path.join(STATE_DIR, 'run');
export const LOG_DIR = path.join(STATE_DIR, 'logs');
export const REDIS_CACHE_MAXMEMORY = env.REDIS_CACHE_MAXMEMORY;
