/**
 * People: users, profiles and the relationship graph, as COPY text rows (tab-separated, \N for NULL).
 *
 * Popularity follows the user number (user 0 is the most followed, befriended and active), the way early
 * members of a network accumulate edges. Friendships are made by the later user of each pair, choosing among
 * earlier users (popular ones, recent ones, or anyone), so each unordered pair appears at most once without
 * remembering the graph; the result has a long tail of degrees.
 */
import { hash32, paretoInt, Rng, unit, zipfRank } from './rng.ts';
import { FIRST_NAMES, INTERESTS, LAST_NAMES, PLACES, WORDS } from './vocab.ts';
import type { World } from './world.ts';
import { DAY, iso, relationshipId, userCreatedMs, userId } from './world.ts';

const N = '\\N';
const PASSWORD_HASH = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$' + 'h'.repeat(43);

export const USER_COLUMNS = 'id, email, name, password_hash, image, is_active, last_active_at, created_at';
export const PROFILE_COLUMNS = 'user_id, bio, location_city, location_state, interests, roles, created_at';
export const RELATIONSHIP_COLUMNS = 'id, from_user_id, to_user_id, type, status, created_at';

export interface UserFacts {
  first: string;
  last: string;
  active: boolean;
}

export function userFacts(w: World, k: number): UserFacts {
  const h = hash32(w.seed, 101, k);
  return {
    first: FIRST_NAMES[zipfRank(unit(h), FIRST_NAMES.length, 0.7)]!,
    last: LAST_NAMES[zipfRank(unit(hash32(h, 1)), LAST_NAMES.length, 0.5)]!,
    active: unit(hash32(h, 2)) < 0.95,
  };
}

export function* users(w: World): Generator<string> {
  for (let k = 0; k < w.counts.users; k++) {
    const f = userFacts(w, k);
    const h = hash32(w.seed, 102, k);
    const created = userCreatedMs(w, k);
    const email = `${f.first}.${f.last}.${k}@example.com`.toLowerCase();
    const image = unit(h) < 0.6 ? `https://img.example.com/u/${k}.jpg` : N;
    // active users were mostly seen in the last days; a long tail has been away for months
    const away = Math.pow(unit(hash32(h, 1)), 3) * 120 * DAY;
    const lastActive = f.active ? iso(Math.max(created, w.now - away)) : N;
    yield `${userId(w, k)}\t${email}\t${f.first} ${f.last}\t${PASSWORD_HASH}\t${image}\t${f.active ? 't' : 'f'}\t${lastActive}\t${iso(created)}\n`;
  }
}

export interface Place {
  state: string | null;
  city: string | null;
}

export function placeOf(w: World, k: number): Place {
  const h = hash32(w.seed, 103, k);
  if (unit(h) < 0.1) return { state: null, city: null };
  const [state, cities] = PLACES[zipfRank(unit(hash32(h, 1)), PLACES.length, 1)]!;
  return { state, city: cities[zipfRank(unit(hash32(h, 2)), cities.length, 1)]! };
}

/** 0 to 8 interests per user by Zipf (s = 1.3): music is in about a quarter of the picks, a niche one in 0.1%. */
export function interestsOf(w: World, k: number): string[] {
  const rng = new Rng(w.seed, 0x1000000 + k);
  const n = paretoInt(rng.float(), 1, 1.6, 9) - 1;
  const picked = new Set<string>();
  for (let i = 0; i < n * 2 && picked.size < n; i++) picked.add(INTERESTS[rng.zipf(INTERESTS.length, 1.3)]!);
  return [...picked];
}

export function* profiles(w: World): Generator<string> {
  for (let k = 0; k < w.counts.users; k++) {
    const h = hash32(w.seed, 104, k);
    const p = placeOf(w, k);
    const bio = unit(h) < 0.5 ? N : sentence(new Rng(w.seed, 0x2000000 + k), 4, 20);
    const interests = JSON.stringify(interestsOf(w, k));
    const r = unit(hash32(h, 1));
    const roles = r < 0.0005 ? '["admin"]' : r < 0.005 ? '["moderator"]' : '[]';
    yield `${userId(w, k)}\t${bio}\t${p.city ?? N}\t${p.state ?? N}\t${interests}\t${roles}\t${iso(userCreatedMs(w, k) + DAY / 24)}\n`;
  }
}

/** How many friends user k chooses (among earlier users): Pareto, mean about 4, a few hundred at most. */
export const friendPicks = (w: World, k: number) => paretoInt(unit(hash32(w.seed, 105, k)), 1, 1.3, 400) - 1;
/** How many accounts user k follows: Pareto, mean about 3. */
export const followPicks = (w: World, k: number) => paretoInt(unit(hash32(w.seed, 106, k)), 1, 1.4, 1000) - 1;

/** The earlier users that user k befriends: 40% popular (Zipf), 40% recent joiners, 20% anyone. */
export function friendTargets(w: World, k: number): number[] {
  const want = Math.min(friendPicks(w, k), k);
  const rng = new Rng(w.seed, 0x3000000 + k);
  const picked = new Set<number>();
  for (let i = 0; i < want * 3 && picked.size < want; i++) {
    const r = rng.float();
    const t = r < 0.4 ? rng.zipf(k, 0.8) : r < 0.8 ? k - 1 - rng.zipf(k, 1.2) : rng.int(k);
    picked.add(t);
  }
  return [...picked];
}

export function followTargets(w: World, k: number): number[] {
  const want = Math.min(followPicks(w, k), w.counts.users - 1);
  const rng = new Rng(w.seed, 0x4000000 + k);
  const picked = new Set<number>();
  for (let i = 0; i < want * 3 && picked.size < want; i++) {
    const t = rng.zipf(w.counts.users, 1.1);
    if (t !== k) picked.add(t);
  }
  return [...picked];
}

export function* relationships(w: World): Generator<string> {
  let n = 0;
  for (let k = 0; k < w.counts.users; k++) {
    const rng = new Rng(w.seed, 0x5000000 + k);
    const since = userCreatedMs(w, k);
    const at = () => iso(since + Math.pow(rng.float(), 2) * (w.now - since));
    for (const t of friendTargets(w, k)) {
      const s = rng.float();
      const status = s < 0.85 ? 'ACCEPTED' : s < 0.95 ? 'PENDING' : 'DECLINED';
      const [from, to] = rng.chance(0.5) ? [k, t] : [t, k];
      yield `${relationshipId(w, n++)}\t${userId(w, from)}\t${userId(w, to)}\tFRIEND\t${status}\t${at()}\n`;
    }
    for (const t of followTargets(w, k)) {
      yield `${relationshipId(w, n++)}\t${userId(w, k)}\t${userId(w, t)}\tFOLLOW\tACCEPTED\t${at()}\n`;
    }
    // a few users block one or two others
    if (rng.chance(0.01)) {
      const blocked = new Set([rng.int(w.counts.users), rng.int(w.counts.users)]);
      for (const t of blocked) {
        if (t !== k) yield `${relationshipId(w, n++)}\t${userId(w, k)}\t${userId(w, t)}\tBLOCK\tACCEPTED\t${at()}\n`;
      }
    }
  }
}

/** About how many relationship rows there will be (for the progress bar; duplicates drawn are skipped). */
export function estimateRelationships(w: World): number {
  let n = 0;
  for (let k = 0; k < w.counts.users; k++) n += Math.min(friendPicks(w, k), k) + followPicks(w, k) + 0.02;
  return Math.round(n);
}

export function sentence(rng: Rng, min: number, max: number): string {
  const n = min + rng.int(max - min + 1);
  let s = WORDS[rng.zipf(WORDS.length, 1)]!;
  for (let i = 1; i < n; i++) s += ' ' + WORDS[rng.zipf(WORDS.length, 1)]!;
  return s;
}
