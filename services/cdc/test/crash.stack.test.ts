import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import type { ChangeEvent } from '@bgc/events/envelope';
import { openTestContext } from '@bgc/testkit/context';
import type { RunningCdc } from './cdc-process.ts';
import { cdcNames, startCdc } from './cdc-process.ts';
import { readUntil } from './topic-reader.ts';

describe('cdc: crashes lose nothing', () => {
  test('kill -9 at random moments while writes run: every committed change reaches Kafka, duplicates keep their sequence', async () => {
    await using ctx = await openTestContext('cdc-crash', { migrated: true });
    const { prefix } = cdcNames(ctx);
    let cdc: RunningCdc = await startCdc(ctx);
    try {
      // writes in transactions of 1 to 20 statements: new users, and renames of existing ones (each raises version)
      const db = await ctx.connectAs('writer');
      let writing = true;
      let committed = 0;
      const writer = (async () => {
        const ids: string[] = [];
        while (writing) {
          await db.query('BEGIN');
          for (let i = 0, n = 1 + Math.floor(Math.random() * 20); i < n; i++) {
            if (ids.length < 20 || Math.random() < 0.3) {
              const { rows } = await db.query<{ id: string }>(
                `INSERT INTO users (email, name, password_hash) VALUES (gen_random_uuid() || '@example.com', 'u', 'x')
                 RETURNING id`,
              );
              if (rows[0]) ids.push(rows[0].id);
            } else {
              const id = ids[Math.floor(Math.random() * ids.length)];
              await db.query(`UPDATE users SET name = md5(random()::text) WHERE id = $1`, [id]);
            }
          }
          await db.query(Math.random() < 0.1 ? 'ROLLBACK' : 'COMMIT');
          committed += 1;
        }
      })();

      for (let crash = 0; crash < 3; crash++) {
        await sleep(300 + Math.random() * 1500);
        await cdc.kill();
        await sleep(Math.random() * 500);
        cdc = await startCdc(ctx);
      }
      await sleep(500);
      writing = false;
      await writer;
      expect(committed).toBeGreaterThan(10);

      // what Postgres holds: every user at its version, so versions 1..v must each have been published
      const { rows: users } = await db.query<{ id: string; version: string }>('SELECT id, version::text FROM users');
      const wanted = new Map(users.map((u) => [u.id, Number(u.version)]));
      const seen = new Map<string, Map<number, Set<string>>>();
      // the users not yet seen at every version, kept as each record arrives (not a scan of all users a record)
      const incomplete = new Set(wanted.keys());
      await readUntil(
        ctx,
        [`${prefix}.public.users`],
        (records) => {
          const r = records.at(-1);
          if (r?.value) {
            const event = JSON.parse(r.value) as ChangeEvent;
            const id = String(event.after?.id);
            const versions = seen.get(id) ?? new Map<number, Set<string>>();
            const sequences = versions.get(Number(event.after?.version)) ?? new Set<string>();
            sequences.add(event.source.sequence);
            versions.set(Number(event.after?.version), sequences);
            seen.set(id, versions);
            if (versions.size >= (wanted.get(id) ?? 0)) incomplete.delete(id);
          }
          return incomplete.size === 0;
        },
        60_000,
      );
      for (const [id, version] of wanted) {
        const versions = seen.get(id);
        expect([...(versions?.keys() ?? [])].sort((a, b) => a - b)).toEqual(
          Array.from({ length: version }, (_, i) => i + 1),
        );
        // a change published twice (before and after a crash) is the same change: one sequence per version
        for (const sequences of versions?.values() ?? []) expect(sequences.size).toBe(1);
      }
      // nothing that was rolled back, nothing that does not exist
      expect([...seen.keys()].filter((id) => !wanted.has(id))).toEqual([]);
      expect(await cdc.stop()).toBe(0);
    } finally {
      await cdc.kill().catch(() => undefined);
    }
  });
});
