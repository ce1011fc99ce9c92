import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import type { ChangeEvent } from '@bgc/events/envelope';
import { openTestContext } from '@bgc/testkit/context';
import type { RunningCdc } from './cdc-process.ts';
import { cdcNames, snapshotPublished, startCdc } from './cdc-process.ts';
import type { Received } from './topic-reader.ts';
import { readUntil } from './topic-reader.ts';

describe('cdc: the initial snapshot', () => {
  test('rows that existed before the slot are published as reads; with writes and a kill -9 meanwhile, the topic converges to the table', async () => {
    await using ctx = await openTestContext('cdc-snapshot', { migrated: true });
    const { prefix } = cdcNames(ctx);
    const db = await ctx.connectAs('writer');
    await db.query(
      `INSERT INTO users (email, name, password_hash)
       SELECT 'pre' || g || '@example.com', 'Pre ' || g, 'x' FROM generate_series(1, 3000) g`,
    );
    const { rows: existing } = await db.query<{ id: string }>('SELECT id FROM users');
    const ids = existing.map((r) => r.id);

    // the slot exists once this resolves; the snapshot is starting
    let cdc: RunningCdc = await startCdc(ctx, { BGC_CDC_SNAPSHOT_CHUNK: '200' }, { waitForSnapshot: false });
    // while the snapshot runs (and the slot streams): renames (new versions), deletes and inserts, on rows read or not yet read
    let writing = true;
    const deleted = new Set<string>();
    const writer = (async () => {
      while (writing) {
        const id = ids[Math.floor(Math.random() * ids.length)] ?? '';
        const roll = Math.random();
        if (roll < 0.1 && !deleted.has(id)) {
          await db.query('DELETE FROM users WHERE id = $1', [id]);
          deleted.add(id);
        } else if (roll < 0.2) {
          await db.query(`INSERT INTO users (email, name, password_hash) VALUES (gen_random_uuid() || '@x', 'n', 'x')`);
        } else {
          await db.query(`UPDATE users SET name = md5(random()::text) WHERE id = $1`, [id]);
        }
      }
    })();

    try {
      await sleep(300 + Math.random() * 400);
      await cdc.kill(); // mid-snapshot: the restart continues after the last chunk Kafka holds
      cdc = await startCdc(ctx, { BGC_CDC_SNAPSHOT_CHUNK: '200' }, { waitForSnapshot: false });
      // writes go on through the restarted snapshot, until it is published or for 5 s: a writer that never stops
      // can outrun a CDC starved of CPU (other test files share two cores), and the snapshot would never end
      const restarted = cdc;
      const writesEnd = Date.now() + 5000;
      while (Date.now() < writesEnd && !snapshotPublished(restarted)) {
        await sleep(50);
      }
      writing = false;
      await writer;

      const { rows } = await db.query<{ id: string; version: string }>('SELECT id, version::text FROM users');
      const want = new Map(rows.map((r) => [r.id, Number(r.version)]));
      // the rows whose newest event is not yet what the table holds (its version, or a tombstone once deleted),
      // kept as each record arrives: the check is O(1) a record, not a scan of every row
      const behind = new Set([...want.keys(), ...deleted]);
      const last = new Map<string, Received>();
      let records: Received[] = [];
      try {
        records = await readUntil(
          ctx,
          [`${prefix}.public.users`],
          (rs) => {
            const r = rs.at(-1);
            if (!r) return false;
            last.set(r.key, r);
            const id = (JSON.parse(r.key) as { id: string }).id;
            const current = want.has(id)
              ? r.value !== null && (JSON.parse(r.value) as ChangeEvent).after?.version === want.get(id)
              : r.value === null;
            if (current) behind.delete(id);
            else if (want.has(id) || deleted.has(id)) behind.add(id);
            return behind.size === 0;
          },
          45_000,
        );
      } catch (err) {
        const logs = cdc.logs.slice(-20).join('\n');
        throw new Error(
          `${String(err)}; ${behind.size} rows behind, e.g. ${[...behind].slice(0, 3).join(', ')}; the CDC's last logs:\n${logs}`,
          { cause: err },
        );
      }
      // every row there is: its newest event carries its current version; every deleted row ends in a tombstone
      for (const [id, version] of want) {
        const event = JSON.parse(last.get(JSON.stringify({ id }))?.value ?? 'null') as ChangeEvent | null;
        expect(event?.after?.version).toBe(version);
      }
      for (const id of deleted) expect(last.get(JSON.stringify({ id }))?.value).toBeNull();
      const reads = records.filter((r) => r.value && (JSON.parse(r.value) as ChangeEvent).op === 'r');
      expect(reads.length).toBeGreaterThan(2000);
      expect(new Set(reads.map((r) => (JSON.parse(r.value ?? '{}') as ChangeEvent).source.snapshot))).toEqual(
        new Set(['true']),
      );
      expect(await cdc.stop()).toBe(0);
    } finally {
      writing = false;
      await cdc.kill().catch(() => undefined);
    }
  }, 120_000); // two starts of the service, a kill, 5 s of writes and the read of the topic, on a shared machine

  test('on demand: an operator asks for one table while the stream runs, and only its rows are republished', async () => {
    await using ctx = await openTestContext('cdc-signal', { migrated: true });
    const { prefix } = cdcNames(ctx);
    await using cdc = await startCdc(ctx);
    const db = await ctx.connectAs('writer');
    const { rows: [ann] = [] } = await db.query<{ id: string }>(
      `INSERT INTO users (email, name, password_hash) VALUES ('ann@example.com', 'Ann', 'x') RETURNING id`,
    );
    await db.query(`INSERT INTO chat_rooms (name, created_by) VALUES ('lobby', $1)`, [ann?.id]);

    const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli.ts');
    const env = { ...process.env, BGC_DB_CDC_URL: ctx.roleUrl('cdc') };
    const refused = spawnSync(process.execPath, [cli, 'snapshot', 'public.nope'], { env, encoding: 'utf8' });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('not published: public.nope');
    const asked = spawnSync(process.execPath, [cli, 'snapshot', 'public.users'], { env, encoding: 'utf8' });
    expect(asked.stderr).toBe('');
    expect(asked.stdout).toContain('snapshot of public.users requested');

    const records = await readUntil(ctx, [`${prefix}.public.users`, `${prefix}.public.chat_rooms`], (rs) =>
      rs.some((r) => r.value?.includes('"op":"r"') && r.value.includes('ann@example.com')),
    );
    const ops = (t: string) =>
      records
        .filter((r) => r.topic === `${prefix}.public.${t}`)
        .map((r) => (JSON.parse(r.value ?? '{}') as ChangeEvent).op);
    expect(ops('users')).toEqual(['c', 'r']);
    // a snapshot of every table would have read chat_rooms before users (publication order): it read none
    const metrics = await (await fetch(`${cdc.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/cdc_events_total\{table="users",op="read"[^}]*\} 1\n/);
    expect(metrics).not.toMatch(/cdc_events_total\{table="chat_rooms",op="read"/);
    expect(await cdc.stop()).toBe(0);
  });
});
