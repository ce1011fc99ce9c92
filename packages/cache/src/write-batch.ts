/**
 * `writeBatch` (`scripts.ts`): the queued guarded writes as few `APPLY_WRITES` script calls rather than a command
 * each. A command costs the client far more than an argument (a Command object, a promise, its own script lookup
 * and reply), and Redis a script run each; with a command per write, building them was a quarter of the projector's
 * CPU. The replies come back in queue order, as a pipeline's would.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { APPLY_WRITES, OP } from './lua.ts';
import type { WriteBatch } from './scripts.ts';

const APPLY_WRITES_SHA = createHash('sha1').update(APPLY_WRITES).digest('hex');

/**
 * Writes per call at most: a script runs alone, so this bounds how long one call holds Redis from other clients.
 * Redis spent 13–21 µs of CPU per write (documents and capped message lists; 18–25 as a script each) on the loaded
 * 2-core machine, so a call of 64 holds it about a millisecond, while the client's cost per call stays small beside
 * its writes'.
 */
export const WRITES_PER_CALL = 64;

/** A write Redis refused (its error's text, as a script of its own would have answered it). */
export class WriteRefused extends Error {
  override readonly name = 'ReplyError';
}

/** One script call: its writes' keys and arguments, as `APPLY_WRITES` takes them. */
interface Call {
  keys: string[];
  args: string[];
  /** each write's position in the batch's queue */
  positions: number[];
}

/**
 * The hash tag Redis Cluster hashes a key by: what lies between the first `{` and the next `}` if not empty, else the
 * whole key. Keys with one tag share a slot, so a call per tag keeps every call to one slot.
 */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

const isNoScript = (outcome: unknown) => outcome instanceof Error && outcome.message.startsWith('NOSCRIPT');

class BatchedWrites implements WriteBatch {
  readonly #client: Redis | Cluster;
  readonly #perTag: boolean;
  /** the calls of each hash tag (one group for everything on a single Redis), in queue order */
  readonly #groups = new Map<string, Call[]>();
  #queued = 0;

  constructor(client: Redis | Cluster, perTag: boolean) {
    this.#client = client;
    this.#perTag = perTag;
  }

  /** The call that takes the next write on `key`, with the write's position recorded. */
  #callFor(key: string): Call {
    const group = this.#perTag ? hashTag(key) : '';
    let calls = this.#groups.get(group);
    if (calls === undefined) this.#groups.set(group, (calls = []));
    let call = calls[calls.length - 1];
    if (call === undefined || call.positions.length >= WRITES_PER_CALL) {
      call = { keys: [], args: [], positions: [] };
      calls.push(call);
    }
    call.positions.push(this.#queued++);
    return call;
  }

  putPart(key: string, versionField: string, payloadField: string, version: string, json: string, ttlMs: number) {
    const call = this.#callFor(key);
    call.keys.push(key);
    call.args.push(OP.putPart, versionField, payloadField, version, json, String(ttlMs));
  }

  deleteDocument(key: string, ttlMs: number) {
    const call = this.#callFor(key);
    call.keys.push(key);
    call.args.push(OP.deleteDocument, String(ttlMs));
  }

  removePart(key: string, versionField: string, payloadField: string, version: string) {
    const call = this.#callFor(key);
    call.keys.push(key);
    call.args.push(OP.removePart, versionField, payloadField, version);
  }

  setMember(key: string, member: string, sequence: string, value: string) {
    const call = this.#callFor(key);
    call.keys.push(key);
    call.args.push(OP.setMember, member, sequence, value);
  }

  addMessage(
    recent: string,
    bodies: string,
    id: string,
    score: number,
    version: string,
    json: string,
    cap: number,
    edit = false,
  ) {
    const call = this.#callFor(recent);
    call.keys.push(recent, bodies);
    call.args.push(OP.addMessage, id, String(score), version, json, String(cap), String(edit));
  }

  deleteMessage(recent: string, bodies: string, id: string) {
    const call = this.#callFor(recent);
    call.keys.push(recent, bodies);
    call.args.push(OP.deleteMessage, id);
  }

  rankPut(
    list: string,
    bodies: string,
    lease: string,
    id: string,
    score: number,
    version: string,
    json: string,
    cap: number,
  ) {
    const call = this.#callFor(list);
    call.keys.push(list, bodies, lease);
    call.args.push(OP.rankPut, id, String(score), version, json, String(cap));
  }

  rankDelete(list: string, bodies: string, lease: string, id: string) {
    const call = this.#callFor(list);
    call.keys.push(list, bodies, lease);
    call.args.push(OP.rankDelete, id);
  }

  hdel(key: string, ...fields: string[]) {
    const call = this.#callFor(key);
    call.keys.push(key);
    call.args.push(OP.hdel, String(fields.length), ...fields);
  }

  async exec(): Promise<[Error | null, unknown][]> {
    const results = new Array<[Error | null, unknown]>(this.#queued);
    await Promise.all([...this.#groups.values()].map((calls) => this.#applyGroup(calls, results)));
    return results;
  }

  /**
   * Sends a group's calls at once (EVALSHA: the script's text goes to each Redis once, not with every call). A call
   * answered NOSCRIPT (the node's script cache was emptied: a restart, a failover, SCRIPT FLUSH) applied nothing,
   * but a later call of its group may have, once another client loaded the script; so from the first such call on,
   * each is sent again in order (EVAL, which loads the script), and the state is the queue order's: the guarded
   * writes converge whatever is applied twice, and the HDEL of a part comes last again. A call that had applied
   * keeps its first replies.
   */
  async #applyGroup(calls: Call[], results: [Error | null, unknown][]) {
    const outcomes = await Promise.all(calls.map((call) => this.#send(call, false).catch((err: unknown) => err)));
    const first = outcomes.findIndex(isNoScript);
    if (first !== -1) {
      for (let i = first; i < calls.length; i++) {
        const again = await this.#send(calls[i] as Call, i === first).catch((err: unknown) => err);
        if (outcomes[i] instanceof Error) outcomes[i] = again;
      }
    }
    calls.forEach((call, i) => settle(call, outcomes[i], results));
  }

  #send(call: Call, loadScript: boolean): Promise<unknown> {
    // the Redis command itself (not a defined command): ioredis knows where its keys are, so a cluster routes and
    // autopipelines it by the first key
    return loadScript
      ? this.#client.eval(APPLY_WRITES, call.keys.length, ...call.keys, ...call.args)
      : this.#client.evalsha(APPLY_WRITES_SHA, call.keys.length, ...call.keys, ...call.args);
  }
}

/** A call's replies into the batch's results, at its writes' positions. */
function settle(call: Call, outcome: unknown, results: [Error | null, unknown][]) {
  if (outcome instanceof Error) {
    // the call as a whole failed (Redis unreachable, the script refused): so did each of its writes
    for (const at of call.positions) results[at] = [outcome, null];
    return;
  }
  if (!Array.isArray(outcome) || outcome.length !== call.positions.length) {
    const wrong = new Error(`APPLY_WRITES answered ${String(outcome)} for ${call.positions.length} writes`);
    for (const at of call.positions) results[at] = [wrong, null];
    return;
  }
  for (let i = 0; i < outcome.length; i++) {
    const reply: unknown = outcome[i];
    results[call.positions[i] ?? 0] = typeof reply === 'string' ? [new WriteRefused(reply), null] : [null, reply];
  }
}

/** The writes for `client`; `perTag`: a call per hash tag (a Redis Cluster). */
export function batchedWrites(client: Redis | Cluster, perTag: boolean): WriteBatch {
  return new BatchedWrites(client, perTag);
}
