import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { components, up } from '@bgc/local-stack/stack';
import type { ChangeEvent } from '@bgc/events/envelope';
import { openTestContext } from '@bgc/testkit/context';
import { cdcNames, startCdc } from './cdc-process.ts';
import { readUntil } from './topic-reader.ts';

describe('cdc: Kafka goes away and comes back', () => {
  test('a broker restart while writes stream: every committed row reaches Kafka', async () => {
    if (process.env.BGC_TEST_STACK === 'external') {
      throw new Error('this test restarts the local stack’s Kafka broker: run it with the native stack');
    }
    await using ctx = await openTestContext('cdc-broker', { migrated: true });
    const { prefix } = cdcNames(ctx);
    await using cdc = await startCdc(ctx);
    const db = await ctx.connectAs('writer');
    let writing = true;
    const emails: string[] = [];
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const email = `w${i}@example.com`;
        await db.query(`INSERT INTO users (email, name, password_hash) VALUES ($1, 'w', 'x')`, [email]);
        emails.push(email);
        await sleep(20);
      }
    })();

    await sleep(1000);
    const kafka = components.find((c) => c.name === 'kafka');
    if (!kafka?.stop) throw new Error('no kafka component to restart');
    await kafka.stop(); // writes go on: Postgres keeps them in the slot while the service waits for Kafka
    await sleep(3000);
    await up();
    await sleep(1000);
    writing = false;
    await writer;
    expect(emails.length).toBeGreaterThan(50);

    const want = new Set(emails);
    const seen = new Set<string>();
    await readUntil(
      ctx,
      [`${prefix}.public.users`],
      (rs) => {
        const r = rs.at(-1);
        const email = r?.value ? (JSON.parse(r.value) as ChangeEvent).after?.email : undefined;
        if (typeof email === 'string') seen.add(email);
        return [...want].every((e) => seen.has(e));
      },
      120_000,
    ).catch(async (err: unknown) => {
      const metrics = await fetch(`${cdc.metricsUrl}/metrics`)
        .then((r) => r.text())
        .catch((e: unknown) => `metrics unavailable: ${String(e)}`);
      const state = metrics
        .split('\n')
        .filter((l) => /^cdc_(events|stream_restarts|inflight|durable|transactions)/.test(l))
        .join('\n');
      const logs = cdc.logs.filter((l) => !l.includes('ECONNREFUSED')).slice(-10);
      throw new Error(`${String(err)}\nservice metrics:\n${state}\nits log ends:\n${logs.join('\n')}`);
    });
    expect([...want].filter((e) => !seen.has(e))).toEqual([]);
    expect(await cdc.stop()).toBe(0);
  });
});
