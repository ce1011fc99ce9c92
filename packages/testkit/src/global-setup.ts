/**
 * Vitest global setup of the integration project: the stack starts (or is found running) once per run, and its
 * endpoints are provided to every test file. In CI the stack it started is stopped at the end; on a developer's
 * machine it stays up so the next run starts in a second (BGC_KEEP_STACK=false to stop it anyway).
 */
import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { databaseEnv } from '@bgc/config/database';
import { envTypes, loadEnv } from '@bgc/config/env';
import { bootstrapRoles } from '@bgc/db/bootstrap';
import { sweepAbandonedTestDatabases } from './abandoned.ts';
import type { StackEndpoints } from './stack-provider.ts';
import { stackProviderFromEnv } from './stack-provider.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackEndpoints;
  }
}

export default async function setup(project: TestProject) {
  const { KEEP_STACK } = loadEnv({
    KEEP_STACK: envTypes.boolean(!process.env.CI),
  });
  const log = (line: string) => process.stderr.write(`[stack] ${line}\n`);
  const provider = stackProviderFromEnv();
  const t0 = Date.now();
  const { endpoints, startedByUs } = await provider.start(log);
  log(`${provider.name} stack ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  project.provide('stack', endpoints);
  // the least-privilege roles are cluster-wide: created once per run, before any file migrates its database
  const admin = new pg.Client({ connectionString: endpoints.pgUrl });
  await admin.connect();
  try {
    await bootstrapRoles(admin, loadEnv(databaseEnv));
    await sweepAbandonedTestDatabases(admin, { minAgeMs: 3 * 3600_000, log });
  } finally {
    await admin.end();
  }
  return async () => {
    if (startedByUs && !KEEP_STACK) await provider.stop(log);
  };
}
