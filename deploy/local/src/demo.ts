/**
 * The live demo at the end of `./bgc start`: a few people use the app through the write API (sign up, edit a
 * profile, become friends, follow, chat in a room, post status updates), then everything is read back through the
 * read API, from Redis (home feeds included), and one request's trace is followed through Jaeger from the HTTP
 * request to the cache.
 */
import crypto from 'node:crypto';
import { loadInfraConfig } from '@bgc/config/infra';
import { waitUntil } from './proc.ts';

const WRITE = 'http://127.0.0.1:23000';
const READ = 'http://127.0.0.1:23300';
const cfg = loadInfraConfig();

export interface DemoStep {
  name: string;
  detail: string;
}

type Json = Record<string, unknown>;

async function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ json: Json; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...opts.headers,
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  const json = (text ? JSON.parse(text) : {}) as Json;
  if (!res.ok) throw new Error(`${method} ${base}${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return { json, headers: res.headers };
}

/** Reads until the answer comes from a cache (Redis or L1): the projector or write-through has done its work. */
async function readFromCache(path: string, token: string, accept: (json: Json) => boolean): Promise<Json> {
  let last: { json: Json; headers: Headers } | undefined;
  const ok = await waitUntil(
    async () => {
      last = await call(READ, 'GET', path, { token });
      return accept(last.json) && ['hit', 'l1'].includes(last.headers.get('cache') ?? '');
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  if (!ok || !last) {
    throw new Error(
      `GET ${path} was not served from Redis within 20 s (last: Cache ${last?.headers.get('cache')}, ` +
        `${JSON.stringify(last?.json).slice(0, 200)}): ./bgc stack logs cache-projector`,
    );
  }
  return last.json;
}

export async function demo(step: (s: DemoStep) => void): Promise<void> {
  const run = crypto.randomBytes(3).toString('hex');
  const people = await Promise.all(
    ['Ann', 'Bob', 'Cat'].map(async (name) => {
      const { json } = await call(WRITE, 'POST', '/v1/auth/signup', {
        body: { email: `${name.toLowerCase()}.${run}@demo.example`, password: 'demo-password-123', name },
      });
      return { name, id: String((json.user as Json).id), token: String(json.token) };
    }),
  );
  const [ann, bob, cat] = people as [(typeof people)[0], (typeof people)[0], (typeof people)[0]];
  step({ name: 'sign up', detail: people.map((p) => `${p.name} ${p.id}`).join(', ') });

  await call(WRITE, 'PATCH', '/v1/me/profile', {
    token: ann.token,
    body: { bio: 'Plays chess on Sundays', interests: ['chess', 'jazz'], locationCity: 'Austin', locationState: 'TX' },
  });
  await call(WRITE, 'POST', '/v1/friends/requests', { token: ann.token, body: { userId: bob.id } });
  await call(WRITE, 'POST', `/v1/friends/requests/${ann.id}/accept`, { token: bob.token });
  await call(WRITE, 'POST', '/v1/follows', { token: cat.token, body: { userId: ann.id } });
  step({
    name: 'profile, friends, follows',
    detail: 'Ann edits her profile, Ann and Bob are friends, Cat follows Ann',
  });

  const room = await call(WRITE, 'POST', '/v1/rooms', { token: ann.token, body: { name: `demo ${run}` } });
  const roomId = String(room.json.id);
  await call(WRITE, 'POST', `/v1/rooms/${roomId}/join`, { token: bob.token });
  // this request's trace is the one followed below
  const traceId = crypto.randomBytes(16).toString('hex');
  const traceparent = `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01`;
  const lines = ['hi Bob', 'hi Ann!', 'chess on Sunday?', 'sure'];
  for (const [i, content] of lines.entries()) {
    const who = i % 2 === 0 ? ann : bob;
    await call(WRITE, 'POST', `/v1/rooms/${roomId}/messages`, {
      token: who.token,
      body: { content },
      ...(i === lines.length - 1 ? { headers: { traceparent } } : {}),
    });
  }
  await call(WRITE, 'POST', '/v1/status', { token: ann.token, body: { content: 'Looking for a chess partner' } });
  await call(WRITE, 'POST', '/v1/status', {
    token: bob.token,
    body: { content: 'Friends only: new board!', visibility: 'FRIENDS' },
  });
  step({ name: 'chat and status updates', detail: `room ${roomId}: ${lines.length} messages; 2 status updates` });

  const profile = await readFromCache(
    `/v1/users/${ann.id}`,
    bob.token,
    // her counts come with the document: the projector applies the friendship and the follow
    (j) => {
      const p = j as { bio?: string; counts?: { friends?: number; followers?: number } };
      return p.bio === 'Plays chess on Sundays' && p.counts?.friends === 1 && p.counts.followers === 1;
    },
  );
  const counts = (profile as { counts?: Json }).counts ?? {};
  step({
    name: 'read API: Ann’s profile',
    detail: `from Redis: bio "${String((profile as { bio?: string }).bio)}", counts ${JSON.stringify(counts)}`,
  });
  const friends = await call(READ, 'GET', `/v1/users/${ann.id}/friends`, { token: cat.token });
  const names = ((friends.json.items as Json[] | undefined) ?? []).map((f) => String(f.name));
  step({
    name: 'read API: Ann’s friends',
    detail: `${names.join(', ') || 'none'} (Cache: ${friends.headers.get('cache')})`,
  });
  const history = await readFromCache(
    `/v1/rooms/${roomId}/messages?limit=3`,
    ann.token,
    (j) => ((j.items as Json[] | undefined) ?? []).length === 3,
  );
  const newest = ((history.items as Json[] | undefined) ?? []).map((m) => `"${String(m.content)}"`);
  step({ name: 'read API: room history', detail: `from Redis, newest first: ${newest.join(', ')}` });

  // home feeds, kept by the feed builder: Ann sees her friend Bob's friends-only post, Cat (who follows Ann) does not
  const feedOf = async (who: { token: string }, want: number) => {
    let last: Json | undefined;
    const ok = await waitUntil(
      async () => {
        last = (await call(READ, 'GET', '/v1/feed?limit=5', { token: who.token })).json;
        return last.source === 'redis' && ((last.items as Json[] | undefined) ?? []).length === want;
      },
      { timeoutMs: 20_000, intervalMs: 300 },
    );
    if (!ok || !last) {
      throw new Error(
        `the home feed was not served from Redis within 20 s (last: ${JSON.stringify(last).slice(0, 200)}): ./bgc stack logs feed-builder`,
      );
    }
    return ((last.items as Json[] | undefined) ?? []).map(
      (i) => `${String((i.author as Json).name)}: "${String(i.content)}"`,
    );
  };
  step({
    name: 'read API: home feeds',
    detail: `from Redis, Ann’s: ${(await feedOf(ann, 2)).join(', ')}; Cat’s: ${(await feedOf(cat, 1)).join(', ')}`,
  });

  // the last send's trace: HTTP request → Postgres → WAL → CDC → Kafka → projector → Redis
  const wanted = ['write-api', 'cdc', 'cache-projector'];
  let services: string[] = [];
  const traced = await waitUntil(
    async () => {
      const res = await fetch(`${cfg.JAEGER_URL}/api/traces/${traceId}`);
      if (!res.ok) return false;
      const body = (await res.json()) as { data?: { processes: Record<string, { serviceName: string }> }[] };
      services = [...new Set(Object.values(body.data?.[0]?.processes ?? {}).map((p) => p.serviceName))].sort();
      return wanted.every((s) => services.includes(s));
    },
    { timeoutMs: 20_000, intervalMs: 500 },
  );
  if (!traced) throw new Error(`trace ${traceId} has spans from ${services.join(', ') || 'nothing'} only`);
  step({
    name: 'one request, traced end to end',
    detail: `trace ${traceId}, spans from ${wanted.join(' → ')}: ${cfg.JAEGER_URL}/api/traces/${traceId}`,
  });
}
