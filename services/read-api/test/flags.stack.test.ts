import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { startReadApi } from './processes.ts';

/** A flag file in flagd's format: each flag a string with its one chosen variant. */
function writeFlags(file: string, flags: Record<string, string>) {
  const definition = {
    flags: Object.fromEntries(
      Object.entries(flags).map(([key, value]) => [
        key,
        { state: 'ENABLED', variants: { [value]: value }, defaultVariant: value },
      ]),
    ),
  };
  // written aside and renamed: the reader never sees half a file
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(definition));
  fs.renameSync(`${file}.tmp`, file);
}

describe('read-api: feature flags', () => {
  test('flipping the flag file switches a strategy of a running process, and back', async () => {
    await using ctx = await openTestContext('rapi-flags', { migrated: true });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'read-api-flags-'));
    const file = path.join(dir, 'flags.json');
    writeFlags(file, { 'cache.profile': 'l1+redis', 'cache.relations': 'cache-aside' });
    try {
      await using writeApi = await startWriteApi(ctx);
      // cache-aside entries outlive the test, however slow the machine: only the flags may change what is served
      await using reader = await startReadApi(ctx, {
        BGC_READ_API_FLAGS_FILE: file,
        BGC_READ_API_LIST_TTL_MS: '600000',
      });
      const api = client(writeApi.url);
      const read = client(reader.url);
      const ann = await signUp(api, 'Ann');
      const profile = async () => (await read.get(`/v1/users/${ann.id}`, { token: ann.token })).headers.get('cache');
      const followers = async () =>
        (await read.get(`/v1/users/${ann.id}/followers`, { token: ann.token })).headers.get('cache');

      // in Redis (the write API writes a new user's document through), or filled from the database into it
      expect(['hit', 'miss']).toContain(await profile());
      // then from L1 (eventually: the write-through's invalidation of the new document may arrive after the first read)
      await eventually('Ann’s profile from L1', async () => ((await profile()) === 'l1' ? true : undefined));
      expect(await followers()).toBe('miss');
      expect(await followers()).toBe('hit');

      writeFlags(file, { 'cache.profile': 'db', 'cache.relations': 'db' });
      await eventually('profiles from the database', async () => ((await profile()) === 'bypass' ? true : undefined), {
        timeoutMs: 20_000,
      });
      expect(await followers()).toBe('bypass');

      writeFlags(file, { 'cache.profile': 'redis', 'cache.relations': 'cache-aside' });
      await eventually(
        'profiles from Redis, without L1',
        async () => ((await profile()) === 'hit' ? true : undefined),
        {
          timeoutMs: 20_000,
        },
      );
      expect(await profile()).toBe('hit'); // not l1: the L1 is off in this mode
      expect(await followers()).toBe('hit');
      // a value the service does not know counts as the default, logged
      writeFlags(file, { 'cache.profile': 'everything' });
      await eventually('the default again', async () => ((await profile()) === 'l1' ? true : undefined), {
        timeoutMs: 20_000,
      });
      // logged before the switch, but the log stream is flushed on a timer
      await eventually('the unknown value logged', () =>
        Promise.resolve(reader.logs.some((l) => l.includes('unknown value')) ? true : undefined),
      );
      expect(reader.pid).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
