import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { eventually } from '@bgc/testkit/eventually';
import {
  invalidationChannel,
  changedKeys,
  InvalidationListener,
  publishInvalidations,
  recordingKeys,
} from './invalidation.ts';
import { keyspace } from './keys.ts';
import { L1Cache } from './l1-cache.ts';
import { registerScripts, writeBatch } from './scripts.ts';
import { rowVersion, sequenceVersion } from './versions.ts';

/** A listener that keeps an L1 honest, as the read API does, and records what it was told. */
function listenInto(l1: L1Cache) {
  const seen: string[][] = [];
  const resets: string[] = [];
  const handlers = {
    onKeys(keys: string[]) {
      seen.push(keys);
      for (const key of keys) l1.delete(key);
    },
    onReset(reason: string) {
      resets.push(reason);
      l1.clear();
    },
  };
  return { seen, resets, handlers };
}

describe('invalidations over pub/sub (real Redis)', () => {
  test('one PUBLISH per call carries all its keys; the listener drops them', async () => {
    await using ctx = await openTestContext('invalidation-publish');
    const redis = ctx.redis();
    const raw = ctx.redis();
    const messages: string[] = [];
    raw.on('message', (_channel: string, message: string) => messages.push(message));
    await raw.subscribe(invalidationChannel(ctx.redisPrefix));

    const l1 = new L1Cache({ maxEntries: 10, maxBytes: 1_000, ttlMs: 60_000 });
    for (const k of ['a', 'b', 'c']) l1.set(k, k, 1);
    const { seen, resets, handlers } = listenInto(l1);
    const listener = new InvalidationListener(ctx.redis(), ctx.redisPrefix, handlers);
    await listener.start();
    try {
      await publishInvalidations(redis, ctx.redisPrefix, ['a', 'b', 'a']);
      await publishInvalidations(redis, ctx.redisPrefix, []); // nothing to say: no message
      await publishInvalidations(redis, `${ctx.redisPrefix}other:`, ['c']); // another prefix's channel
      await publishInvalidations(redis, ctx.redisPrefix, ['end']); // messages arrive in order: the last one
      await eventually('the messages', () =>
        Promise.resolve(seen.length >= 2 && messages.length >= 2 ? true : undefined),
      );
      expect(seen).toEqual([['a', 'b'], ['end']]);
      expect(messages).toEqual(['a\nb', 'end']);
      expect([l1.get('a'), l1.get('b'), l1.get('c')]).toEqual([undefined, undefined, 'c']);
      expect(resets).toEqual([]);
    } finally {
      await listener.stop();
    }
  });

  test('a killed subscriber connection resets (the L1 is flushed), and the listener resubscribes', async () => {
    await using ctx = await openTestContext('invalidation-kill');
    const redis = ctx.redis();
    const l1 = new L1Cache({ maxEntries: 10, maxBytes: 1_000, ttlMs: 60_000 });
    const { seen, resets, handlers: flushing } = listenInto(l1);
    const handlers = {
      ...flushing,
      onReset(reason: string) {
        flushing.onReset(reason);
        // a read while the subscriber is away fills the L1 again: it must be flushed once the subscription is back
        if (resets.length === 1) l1.set('filled-meanwhile', 1, 1);
      },
    };
    const connectionName = `${ctx.redisPrefix.replace(/:/g, '-')}listener`;
    const listener = new InvalidationListener(ctx.redis(), ctx.redisPrefix, handlers, { connectionName });
    await listener.start();
    try {
      l1.set('kept', 1, 1);
      const clients = (await redis.client('LIST')) as string;
      const id = /(?:^|\n)id=(\d+) [^\n]* name=(\S+)/g;
      const ours = [...clients.matchAll(id)].filter((m) => m[2] === connectionName).map((m) => m[1]);
      expect(ours).toHaveLength(1);
      expect(await redis.client('KILL', 'ID', ours[0] ?? '')).toBe(1);

      await eventually(
        'the resubscription',
        () => Promise.resolve(resets.includes('subscriber reconnected') ? true : undefined),
        { intervalMs: 20 },
      );
      expect(resets[0]).toBe('subscriber connection closed');
      expect(l1.get('kept')).toBeUndefined();
      expect(l1.get('filled-meanwhile')).toBeUndefined();

      await publishInvalidations(redis, ctx.redisPrefix, ['after']);
      await eventually('a message after the reconnection', () =>
        Promise.resolve(seen.some((k) => k.includes('after')) ? true : undefined),
      );
    } finally {
      await listener.stop();
    }
    const count = resets.length;
    await eventually('the subscriber gone', async () => {
      const clients = (await redis.client('LIST')) as string;
      return clients.includes(`name=${connectionName} `) ? undefined : true;
    });
    await sleep(100);
    expect(resets).toHaveLength(count); // closing the connection on stop is not a reset
  });

  test('a connection that goes silent (no FIN, no RST) is noticed by the PING and reset', async () => {
    await using ctx = await openTestContext('invalidation-silent');
    // a TCP relay to Redis that can stop relaying without closing anything, as a dead peer or a dropped route would
    const target = new URL(ctx.urls.redisUrl);
    let frozen = false;
    const sockets: net.Socket[] = [];
    const relay = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      sockets.push(client, upstream);
      client.on('data', (d) => void (frozen || upstream.write(d)));
      upstream.on('data', (d) => void (frozen || client.write(d)));
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const viaRelay = new Redis({
      port: (relay.address() as net.AddressInfo).port,
      host: '127.0.0.1',
      lazyConnect: true,
    });
    const l1 = new L1Cache({ maxEntries: 10, maxBytes: 1_000, ttlMs: 60_000 });
    const { resets, handlers } = listenInto(l1);
    const listener = new InvalidationListener(viaRelay, ctx.redisPrefix, handlers, { pingIntervalMs: 100 });
    await listener.start();
    try {
      await sleep(300);
      expect(resets).toEqual([]); // answered PINGs: no reset
      l1.set('k', 1, 1);
      frozen = true;
      await eventually('a reset', () => Promise.resolve(resets.length > 0 ? resets : undefined), { intervalMs: 20 });
      expect(l1.get('k')).toBeUndefined();
      frozen = false;
    } finally {
      await listener.stop();
      viaRelay.disconnect();
      for (const s of sockets) s.destroy();
      relay.close();
    }
  });

  test('recordingKeys + changedKeys: only the keys of writes that changed something', async () => {
    await using ctx = await openTestContext('invalidation-changed');
    const redis = registerScripts(ctx.redis());
    const ks = keyspace(ctx.redisPrefix);
    await redis.putPart(ks.profile('old'), 'uv', 'u', rowVersion(9), '{}', 60_000);

    const batch = recordingKeys(writeBatch(redis));
    batch.putPart(ks.profile('new'), 'uv', 'u', rowVersion(1), '{}', 60_000); // changed
    batch.putPart(ks.profile('old'), 'uv', 'u', rowVersion(3), '{}', 60_000); // older: refused
    batch.setMember(ks.roomMembers('r'), 'ann', sequenceVersion('["5","1"]'), 'MEMBER'); // changed
    batch.addMessage(ks.roomRecent('r'), ks.roomBodies('r'), 'm1', 1, rowVersion(1), '{}', 10); // both keys
    batch.hdel(ks.profile('nothing'), 'pv', 'p'); // no such fields
    const results = await batch.exec();
    expect(batch.queuedKeys).toHaveLength(5);
    expect(changedKeys(batch.queuedKeys, results)).toEqual([
      ks.profile('new'),
      ks.roomMembers('r'),
      ks.roomRecent('r'),
      ks.roomBodies('r'),
    ]);
    expect(changedKeys([['k']], [[new Error('refused'), null]])).toEqual([]);
  });
});
