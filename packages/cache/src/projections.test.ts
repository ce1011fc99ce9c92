import { describe, expect, test } from 'vitest';
import type { ChangeEvent, Row } from '@bgc/events/envelope';
import { UNAVAILABLE } from '@bgc/events/envelope';
import { keyspace } from './keys.ts';
import { rowVersion, sequenceVersion } from './versions.ts';
import { FRONT_PAGE_THREADS, projectEvent, UnprojectableEvent } from './projections.ts';

const keys = keyspace('p:');
const event = (
  op: ChangeEvent['op'],
  before: Row | null,
  after: Row | null,
  sequence = '["500","2"]',
): ChangeEvent => ({
  before,
  after,
  op,
  ts_ms: 1,
  transaction: null,
  source: {
    version: 't',
    connector: 'postgresql',
    name: 'bgc',
    ts_ms: 1,
    snapshot: 'false',
    db: 'bgc',
    sequence,
    schema: 'public',
    table: 't',
    txId: 1,
    lsn: 1,
    xmin: null,
  },
});

describe('what each change event does to Redis', () => {
  test('user counts: the `c` part of the profile document, the four counts only, versioned by the row', () => {
    const row = {
      user_id: 'u1',
      friends: 3,
      followers: 120,
      following: 7,
      blocking: 0,
      updated_at: '2026-11-29T10:00:00Z',
      version: 9,
    };
    const part = { key: 'p:{u:u1}:profile', versionField: 'cv', payloadField: 'c' };
    expect(projectEvent('user_counts', event('u', null, row), keys)).toEqual([
      {
        op: 'putPart',
        ...part,
        version: rowVersion(9),
        json: '{"friends":3,"followers":120,"following":7,"blocking":0}',
      },
    ]);
    // a delete (the user's, cascaded) or a column the WAL did not carry: the part goes, a read refills it
    expect(projectEvent('user_counts', event('d', { user_id: 'u1' }, null), keys)).toEqual([
      { op: 'dropPart', ...part },
    ]);
    expect(projectEvent('user_counts', event('u', null, { ...row, friends: UNAVAILABLE }), keys)).toEqual([
      { op: 'dropPart', ...part },
    ]);
    expect(() => projectEvent('user_counts', event('u', null, { ...row, followers: 'many' }), keys)).toThrow(
      UnprojectableEvent,
    );
  });

  test('forum threads: their category’s front page, ranked by last activity (ms), versioned by the row', () => {
    const thread = {
      id: 't1',
      category_id: 'c1',
      title: 'Openings',
      last_post_at: '2026-11-28T10:00:00.123456Z',
      version: 4,
    };
    const keysOf = {
      list: 'p:{forum:c1}:front',
      bodies: 'p:{forum:c1}:front:bodies',
      lease: 'p:{forum:c1}:front:lease',
    };
    expect(projectEvent('forum_threads', event('u', null, thread), keys)).toEqual([
      {
        op: 'rankPut',
        ...keysOf,
        id: 't1',
        score: Date.UTC(2026, 10, 28, 10, 0, 0, 123),
        version: rowVersion(4),
        json: JSON.stringify(thread),
        cap: FRONT_PAGE_THREADS,
      },
    ]);
    expect(projectEvent('forum_threads', event('d', { id: 't1', category_id: 'c1' }, null), keys)).toEqual([
      { op: 'rankDelete', ...keysOf, id: 't1' },
    ]);
    expect(() => projectEvent('forum_threads', event('c', null, { ...thread, last_post_at: 'soon' }), keys)).toThrow(
      UnprojectableEvent,
    );
  });

  test('users and profiles: versioned parts of one document; a deleted user is a tombstone', () => {
    const user = { id: 'u1', name: 'Ann', version: 3 };
    expect(projectEvent('users', event('u', null, user), keys)).toEqual([
      {
        op: 'putPart',
        key: 'p:{u:u1}:profile',
        versionField: 'uv',
        payloadField: 'u',
        version: rowVersion(3),
        json: JSON.stringify(user),
      },
    ]);
    expect(projectEvent('users', event('d', { id: 'u1' }, null), keys)).toEqual([
      { op: 'deleteDocument', key: 'p:{u:u1}:profile' },
    ]);
    const profile = { user_id: 'u1', bio: 'hi', version: 1 };
    expect(projectEvent('profiles', event('r', null, profile), keys)[0]).toMatchObject({
      versionField: 'pv',
      payloadField: 'p',
    });
    // a value the WAL did not carry: the part is dropped (a read refills it), never stored with a hole
    expect(projectEvent('users', event('u', null, { ...user, image: UNAVAILABLE }), keys)).toEqual([
      { op: 'dropPart', key: 'p:{u:u1}:profile', versionField: 'uv', payloadField: 'u' },
    ]);
  });

  test('relationships: accepted friendships on both sides by row direction, follows, blocks, removals', () => {
    const seq = sequenceVersion('["500","2"]');
    const friend = { from_user_id: 'a', to_user_id: 'b', type: 'FRIEND', status: 'ACCEPTED' };
    expect(projectEvent('relationships', event('u', friend, friend), keys)).toEqual([
      { op: 'setMember', key: 'p:{u:a}:friends', member: 'b>', sequence: seq, value: '1' },
      { op: 'setMember', key: 'p:{u:b}:friends', member: 'a<', sequence: seq, value: '1' },
    ]);
    const pending = projectEvent('relationships', event('c', null, { ...friend, status: 'PENDING' }), keys);
    expect(pending.map((w) => (w.op === 'setMember' ? w.value : ''))).toEqual(['-', '-']);
    const follow = { from_user_id: 'a', to_user_id: 'b', type: 'FOLLOW', status: 'ACCEPTED' };
    expect(projectEvent('relationships', event('d', follow, null), keys)).toEqual([
      { op: 'setMember', key: 'p:{u:a}:following', member: 'b', sequence: seq, value: '-' },
      { op: 'setMember', key: 'p:{u:b}:followers', member: 'a', sequence: seq, value: '-' },
    ]);
    const block = { from_user_id: 'a', to_user_id: 'b', type: 'BLOCK', status: 'ACCEPTED' };
    expect(projectEvent('relationships', event('c', null, block), keys)).toHaveLength(1);
  });

  test('memberships of rooms and conversations, both sides; a delete carries only the key', () => {
    const writes = projectEvent('room_members', event('d', { room_id: 'r', user_id: 'u' }, null), keys);
    expect(writes.map((w) => (w.op === 'setMember' ? [w.key, w.member, w.value] : []))).toEqual([
      ['p:{room:r}:members', 'u', '-'],
      ['p:{u:u}:rooms', 'r', '-'],
    ]);
    const joined = projectEvent(
      'conversation_participants',
      event('c', null, { conversation_id: 'c', user_id: 'u' }),
      keys,
    );
    expect(joined.map((w) => (w.op === 'setMember' ? w.key : ''))).toEqual([
      'p:{conv:c}:members',
      'p:{u:u}:conversations',
    ]);
  });

  test('messages: the recent list of their room or conversation; a message in neither is refused', () => {
    const message = {
      id: 'm',
      room_id: 'r',
      conversation_id: null,
      created_at: '2026-11-28T05:00:00.000001Z',
      version: 2,
    };
    expect(projectEvent('messages', event('c', null, message), keys)).toEqual([
      {
        op: 'addMessage',
        recent: 'p:{room:r}:recent',
        bodies: 'p:{room:r}:bodies',
        id: 'm',
        score: Date.parse('2026-11-28T05:00:00.000Z'),
        version: rowVersion(2),
        json: JSON.stringify(message),
        edit: false,
      },
    ]);
    // an update is an edit: stored only within the list's span
    expect(projectEvent('messages', event('u', message, { ...message, version: 3 }), keys)[0]).toMatchObject({
      edit: true,
    });
    expect(projectEvent('messages', event('r', null, message), keys)[0]).toMatchObject({ edit: false });
    const dm = { ...message, room_id: null, conversation_id: 'c' };
    expect(projectEvent('messages', event('d', dm, null), keys)).toEqual([
      { op: 'deleteMessage', recent: 'p:{conv:c}:recent', bodies: 'p:{conv:c}:bodies', id: 'm' },
    ]);
    expect(() => projectEvent('messages', event('c', null, { ...message, room_id: null }), keys)).toThrow(
      UnprojectableEvent,
    );
    expect(() => projectEvent('users', event('c', null, null), keys)).toThrow(UnprojectableEvent);
    expect(projectEvent('forum_posts', event('c', null, { id: 'x' }), keys)).toEqual([]);
  });
});
