/**
 * What each change event does to Redis, as data: a pure function from (table, Debezium envelope) to guarded writes
 * (`@bgc/cache/scripts`), so every rule is here to read and to test without Redis.
 *
 *  - users, profiles, user_counts → the profile document `{u:<id>}:profile` (parts `u`, `p` and `c`, each
 *    versioned by its row's `version`; `c` holds the four counts only); a deleted user leaves a tombstone;
 *  - relationships → friends (ACCEPTED FRIEND, both sides, a field per row direction), following / followers
 *    (ACCEPTED FOLLOW), blocks;
 *  - room_members, conversation_participants → the membership hashes of both sides;
 *  - messages → the capped recent list of their room or conversation, bodies versioned by the row's `version`;
 *  - forum_threads → their category's front page (`front-page.ts`), if one is held: ranked by last activity,
 *    versioned by the row's `version`.
 * Memberships are versioned by the event's `source.sequence`. Other tables project nothing (yet).
 */
import type { ChangeEvent, Row } from '@bgc/events/envelope';
import { UNAVAILABLE } from '@bgc/events/envelope';
import type { Keyspace } from './keys.ts';
import { rowVersion, sequenceVersion } from './versions.ts';

export type Write =
  | { op: 'putPart'; key: string; versionField: string; payloadField: string; version: string; json: string }
  | { op: 'dropPart'; key: string; versionField: string; payloadField: string }
  | { op: 'deleteDocument'; key: string }
  | { op: 'setMember'; key: string; member: string; sequence: string; value: string }
  | {
      op: 'addMessage';
      recent: string;
      bodies: string;
      id: string;
      score: number;
      version: string;
      json: string;
      /** an update (not a create or a snapshot read): stored only within the list's span (`scripts.ts`) */
      edit: boolean;
    }
  | { op: 'deleteMessage'; recent: string; bodies: string; id: string }
  | {
      op: 'rankPut';
      list: string;
      bodies: string;
      lease: string;
      id: string;
      score: number;
      version: string;
      json: string;
      cap: number;
    }
  | { op: 'rankDelete'; list: string; bodies: string; lease: string; id: string };

/** Threads a forum category's front page holds at most (the read API fills it with this many). */
export const FRONT_PAGE_THREADS = 100;

/** A change event the projector cannot use (it goes to the dead-letter topic with this message). */
export class UnprojectableEvent extends Error {}

export const PROJECTED_TABLES = [
  'users',
  'profiles',
  'user_counts',
  'relationships',
  'room_members',
  'conversation_participants',
  'messages',
  'forum_threads',
] as const;

const text = (row: Row, column: string): string => {
  const value = row[column];
  if (typeof value !== 'string' || value === '' || value === UNAVAILABLE) {
    throw new UnprojectableEvent(`column ${column} is missing or not text`);
  }
  return value;
};

/** The counts part of a profile document: the four counts of a user_counts row, in this order. */
export function countsJson(row: Row): string {
  const n = (column: string) => {
    const value = Number(row[column]);
    if (!Number.isSafeInteger(value)) throw new UnprojectableEvent(`column ${column} is not a count`);
    return value;
  };
  return `{"friends":${n('friends')},"followers":${n('followers')},"following":${n('following')},"blocking":${n('blocking')}}`;
}

const hasUnavailable = (row: Row) => Object.values(row).includes(UNAVAILABLE);

export function projectEvent(table: string, event: ChangeEvent, keys: Keyspace): Write[] {
  const row = event.op === 'd' ? event.before : event.after;
  if (!row) throw new UnprojectableEvent(`op ${event.op} without ${event.op === 'd' ? 'before' : 'after'}`);
  const present = event.op !== 'd';
  switch (table) {
    case 'users':
    case 'profiles': {
      const isUser = table === 'users';
      const key = keys.profile(text(row, isUser ? 'id' : 'user_id'));
      const [versionField, payloadField] = isUser ? ['uv', 'u'] : ['pv', 'p'];
      if (!present)
        return isUser ? [{ op: 'deleteDocument', key }] : [{ op: 'dropPart', key, versionField, payloadField }];
      // a column the WAL did not carry: drop the part, so a read refills it from Postgres, rather than store a hole
      if (hasUnavailable(row)) return [{ op: 'dropPart', key, versionField, payloadField }];
      return [
        { op: 'putPart', key, versionField, payloadField, version: rowVersion(row.version), json: JSON.stringify(row) },
      ];
    }
    case 'user_counts': {
      const key = keys.profile(text(row, 'user_id'));
      if (!present || hasUnavailable(row)) return [{ op: 'dropPart', key, versionField: 'cv', payloadField: 'c' }];
      return [
        {
          op: 'putPart',
          key,
          versionField: 'cv',
          payloadField: 'c',
          version: rowVersion(row.version),
          json: countsJson(row),
        },
      ];
    }
    case 'relationships': {
      const sequence = sequenceVersion(event.source.sequence);
      const from = text(row, 'from_user_id');
      const to = text(row, 'to_user_id');
      const type = text(row, 'type');
      const on = present && (type === 'BLOCK' || row.status === 'ACCEPTED') ? '1' : '-';
      const member = (key: string, id: string): Write => ({ op: 'setMember', key, member: id, sequence, value: on });
      // a friendship may be recorded by either side's row (A→B, or B→A after a declined request), so each side's
      // field names the row's direction: friends of A = the users with a present `<id>>` or `<id><` field
      if (type === 'FRIEND') return [member(keys.friends(from), `${to}>`), member(keys.friends(to), `${from}<`)];
      if (type === 'FOLLOW') return [member(keys.following(from), to), member(keys.followers(to), from)];
      if (type === 'BLOCK') return [member(keys.blocks(from), to)];
      throw new UnprojectableEvent(`unknown relationship type ${type}`);
    }
    case 'room_members': {
      const sequence = sequenceVersion(event.source.sequence);
      const room = text(row, 'room_id');
      const user = text(row, 'user_id');
      // a delete carries only the key (REPLICA IDENTITY DEFAULT): the role is the insert's or update's
      const value = present ? text(row, 'role') : '-';
      return [
        { op: 'setMember', key: keys.roomMembers(room), member: user, sequence, value },
        { op: 'setMember', key: keys.rooms(user), member: room, sequence, value },
      ];
    }
    case 'conversation_participants': {
      const sequence = sequenceVersion(event.source.sequence);
      const conversation = text(row, 'conversation_id');
      const user = text(row, 'user_id');
      const value = present ? '1' : '-';
      return [
        { op: 'setMember', key: keys.conversationMembers(conversation), member: user, sequence, value },
        { op: 'setMember', key: keys.conversations(user), member: conversation, sequence, value },
      ];
    }
    case 'messages': {
      const id = text(row, 'id');
      const room = typeof row.room_id === 'string' ? row.room_id : undefined;
      const conversation = typeof row.conversation_id === 'string' ? row.conversation_id : undefined;
      const [recent, bodies] = room
        ? [keys.roomRecent(room), keys.roomBodies(room)]
        : conversation
          ? [keys.conversationRecent(conversation), keys.conversationBodies(conversation)]
          : [];
      if (!recent || !bodies) throw new UnprojectableEvent('a message in neither a room nor a conversation');
      if (!present) return [{ op: 'deleteMessage', recent, bodies, id }];
      const score = Date.parse(text(row, 'created_at'));
      if (Number.isNaN(score)) throw new UnprojectableEvent('created_at is not a timestamp');
      return [
        {
          op: 'addMessage',
          recent,
          bodies,
          id,
          score,
          version: rowVersion(row.version),
          json: JSON.stringify(row),
          edit: event.op === 'u',
        },
      ];
    }
    case 'forum_threads': {
      const category = text(row, 'category_id');
      const [list, bodies, lease] = [
        keys.forumFront(category),
        keys.forumFrontBodies(category),
        keys.forumFrontLease(category),
      ];
      const id = text(row, 'id');
      if (!present) return [{ op: 'rankDelete', list, bodies, lease, id }];
      const score = Date.parse(text(row, 'last_post_at'));
      if (Number.isNaN(score)) throw new UnprojectableEvent('last_post_at is not a timestamp');
      const version = rowVersion(row.version);
      return [
        { op: 'rankPut', list, bodies, lease, id, score, version, json: JSON.stringify(row), cap: FRONT_PAGE_THREADS },
      ];
    }
    default:
      return [];
  }
}
