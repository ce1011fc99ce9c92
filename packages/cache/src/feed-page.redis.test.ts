import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { feedKeyspace } from './feed-keys.ts';
import { readFeedPage } from './feed-page.ts';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const ANN = id(900);
const seq = (n: number) => String(n).padStart(30, '0');

describe('readFeedPage (real Redis): a page of a feed in one round trip', () => {
  test('absent, inactive, built; the page below a bound with the cursor’s ties; trimmed; pulled authors', async () => {
    await using ctx = await openTestContext('feed-page');
    const store = ctx.redisStore();
    const keys = feedKeyspace(ctx.redisPrefix);
    const read = (opts: { upper: string; want: number; tie?: number }) => readFeedPage(store, keys, ANN, opts);

    expect(await read({ upper: '+inf', want: 3 })).toEqual({ built: false, inactive: false });
    await store.set(keys.inactive(ANN), '1');
    expect(await read({ upper: '+inf', want: 3 })).toEqual({ built: false, inactive: true });

    // built: six entries, two of them sharing a score (µs), two pulled authors (one removed since)
    await store.hset(keys.guards(ANN), '@built', seq(5));
    const scores = [100, 200, 300, 300, 400, 500];
    await store.zadd(keys.feed(ANN), ...scores.flatMap((s, i) => [s, `${id(i)}:${id(50)}`]));
    await store.hset(keys.pulls(ANN), id(60), `${seq(3)}|f`, id(61), `${seq(4)}-`);
    const first = await read({ upper: '+inf', want: 3 });
    expect(first).toEqual({
      built: true,
      want: 3,
      entries: [
        { member: `${id(5)}:${id(50)}`, micros: 500 },
        { member: `${id(4)}:${id(50)}`, micros: 400 },
        { member: `${id(3)}:${id(50)}`, micros: 300 },
      ],
      trimmed: false,
      pulls: new Map([[id(60), 'f']]),
    });
    // the next page from a cursor at 300: what shares its score comes back too, and `want` grows by as many
    const next = await read({ upper: '300', want: 3, tie: 300 });
    expect(next.built && next.want).toBe(5);
    expect(next.built && next.entries.map((e) => e.micros)).toEqual([300, 300, 200, 100]);
    await store.hset(keys.guards(ANN), '@trimmed', '1');
    expect(await read({ upper: '150', want: 3 })).toMatchObject({
      built: true,
      trimmed: true,
      entries: [{ micros: 100 }],
    });
  });
});
