/**
 * Flow control of pg-logical-replication as our patch (`patches/pg-logical-replication@2.5.0.patch`) leaves it: a
 * message goes to the 'data' listener at once while nothing is pending; once the listener returns a promise, the
 * socket is paused and later messages wait, in order, until it settles. Run against a fake connection: the stack
 * tests (`test/*.stack.test.ts`) cover the real one, including a 500k-row transaction in bounded memory.
 */
import { EventEmitter } from 'node:events';
import { LogicalReplicationService } from 'pg-logical-replication';
import { describe, expect, test } from 'vitest';

class FakeConnection extends EventEmitter {
  readonly calls: string[] = [];
  readonly stream = {
    pause: () => this.calls.push('pause'),
    resume: () => this.calls.push('resume'),
  };
  sendCopyFromChunk() {}
}

/** XLogData carrying one byte of payload, the message number */
const xlog = (n: number) => {
  const b = Buffer.alloc(26);
  b[0] = 0x77;
  b.writeUInt32BE(n, 5);
  b[25] = n;
  return b;
};

async function streaming() {
  const connection = new FakeConnection();
  const service = new LogicalReplicationService(
    {},
    { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
  );
  const client = { on() {}, end: () => Promise.resolve(), removeAllListeners() {} };
  // no Postgres: the service gets our connection instead of opening one (as its own client() would set them)
  const internals = service as unknown as { client: () => Promise<unknown>; _connection: unknown; _client: unknown };
  internals.client = () => {
    internals._client = client;
    internals._connection = connection;
    return Promise.resolve([client, connection]);
  };
  const plugin = {
    parse: (buf: Buffer) => buf[0],
    start: () => new Promise(() => undefined),
  } as unknown as Parameters<LogicalReplicationService['subscribe']>[0];
  void service.subscribe(plugin, 'slot', '0/0');
  await new Promise((r) => setImmediate(r));
  connection.emit('replicationStart');
  return { service, connection, send: (n: number) => connection.emit('copyData', { chunk: xlog(n) }) };
}

describe('replication flow control (patched)', () => {
  test('delivers at once while the listener returns nothing, without pausing the socket', async () => {
    const { service, connection, send } = await streaming();
    const got: number[] = [];
    service.on('data', (_lsn: string, n: number) => void got.push(n));
    for (let n = 1; n <= 5; n++) send(n);
    expect(got).toEqual([1, 2, 3, 4, 5]); // synchronously, before any await
    expect(connection.calls).toEqual([]);
  });

  test('a pending promise pauses the socket; later messages wait in order, then the socket resumes', async () => {
    const { service, connection, send } = await streaming();
    const got: number[] = [];
    let release: (() => void) | undefined;
    service.on('data', (_lsn: string, n: number) => {
      got.push(n);
      if (n === 2 || n === 4) return new Promise<void>((r) => (release = r));
      return undefined;
    });
    send(1);
    send(2); // backpressure
    send(3);
    send(4);
    expect(got).toEqual([1, 2]);
    expect(connection.calls).toEqual(['pause']);
    release?.();
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([1, 2, 3, 4]); // 3 then 4, which holds the queue again
    send(5);
    expect(got).toEqual([1, 2, 3, 4]);
    release?.();
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(connection.calls.at(-1)).toBe('resume');
    send(6);
    expect(got).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test("a listener's error, thrown or rejected, is emitted as 'error' and the stream goes on", async () => {
    const { service, send } = await streaming();
    const errors: string[] = [];
    const got: number[] = [];
    service.on('error', (e: Error) => errors.push(e.message));
    service.on('data', (_lsn: string, n: number) => {
      got.push(n);
      if (n === 1) throw new Error('thrown');
      if (n === 2) return Promise.reject(new Error('rejected'));
      return undefined;
    });
    send(1);
    send(2);
    send(3);
    await new Promise((r) => setImmediate(r));
    expect(errors).toEqual(['thrown', 'rejected']);
    expect(got).toEqual([1, 2, 3]);
  });
});
