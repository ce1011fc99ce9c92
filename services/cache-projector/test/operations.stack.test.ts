import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { cdcNames, startCdc } from '../../cdc/test/cdc-process.ts';
import { readUntil } from '../../cdc/test/topic-reader.ts';
import { listDeadLetters, OperationRefused, replayFrom, requeueDeadLetters } from '../src/operations.ts';
import { startProjector } from './projector-process.ts';

describe('cache-projector: operators’ tools', () => {
  test('replay refuses while the projector runs, then moves its group back to a time; dead letters are listed and requeued once', async () => {
    await using ctx = await openTestContext('projector-ops', { migrated: true });
    await using _cdc = await startCdc(ctx);
    await using server = await startWriteApi(ctx);
    const group = `projector-${ctx.id}`;
    const projector = await startProjector(ctx, {}, group);
    const api = client(server.url);
    const { prefix } = cdcNames(ctx);
    const kafka = ctx.kafka('ops-test');
    const usersTopic = `${prefix}.public.users`;

    await signUp(api, 'Early');
    await new Promise((r) => setTimeout(r, 1500));
    const middle = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    await signUp(api, 'Late');
    // the projector has read both sign-ups (and committed): wait for its group's offsets to reach the end
    const admin = kafka.admin();
    await admin.connect();
    const caughtUp = async () => {
      const ends = await admin.fetchTopicOffsets(usersTopic);
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [usersTopic] });
      // an empty partition has no committed offset (-1) and ends at 0
      const at = (partition: number) => offsets?.partitions.find((p) => p.partition === partition)?.offset;
      return ends.every((e) => (e.high === '0' ? true : at(e.partition) === e.high));
    };
    for (let i = 0; i < 100 && !(await caughtUp()); i++) await new Promise((r) => setTimeout(r, 200));
    expect(await caughtUp()).toBe(true);

    await expect(replayFrom(kafka, { group, topic: usersTopic, fromMs: middle })).rejects.toMatchObject({
      code: 'GROUP_ACTIVE',
    });
    expect(await projector.stop()).toBe(0);
    const partitions = await replayFrom(kafka, { group, topic: usersTopic, fromMs: middle });
    const byTime = await admin.fetchTopicOffsetsByTimestamp(usersTopic, middle);
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [usersTopic] });
    // the group now sits at the first event after `middle`: the late sign-up is read again, the early one not
    const ends = await admin.fetchTopicOffsets(usersTopic);
    for (const { partition, offset } of partitions) {
      const expected = byTime.find((p) => p.partition === partition)?.offset;
      const high = ends.find((e) => e.partition === partition)?.high;
      expect(offsets?.partitions.find((p) => p.partition === partition)?.offset).toBe(
        expected === '-1' ? high : expected,
      );
      expect(offset).toBe(expected === '-1' ? high : expected);
    }
    expect(partitions.some((p) => p.offset !== ends.find((e) => e.partition === p.partition)?.high)).toBe(true);
    await expect(replayFrom(kafka, { group, topic: `${prefix}.public.nope`, fromMs: 0 })).rejects.toBeInstanceOf(
      OperationRefused,
    );

    // a bad event, dead-lettered by a running projector
    await using again = await startProjector(ctx, {}, group);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: usersTopic,
      messages: [{ key: '{"id":"bad"}', value: '{"op":"c","after":null}', headers: { traceparent: 'x' } }],
    });
    await producer.disconnect();
    await readUntil(ctx, [`${prefix}.dlq.cache-projector`], (rs) => rs.length === 1);
    const listed = await listDeadLetters(kafka, prefix);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ key: '{"id":"bad"}', source: { topic: usersTopic } });
    expect(listed[0]?.error).toMatch(/after/);

    // requeued: back on its topic with its key, value and trace header, once
    const requeued = await requeueDeadLetters(kafka, prefix);
    expect(requeued).toHaveLength(1);
    const back = await readUntil(ctx, [usersTopic], (rs) => rs.filter((r) => r.key === '{"id":"bad"}').length === 2);
    const copies = back.filter((r) => r.key === '{"id":"bad"}');
    expect(copies[1]?.value).toBe('{"op":"c","after":null}');
    expect(copies[1]?.headers.traceparent).toBe('x');
    expect(copies[1]?.headers['bgc.error']).toBeUndefined();
    // it is still bad, so it is dead-lettered again: that one is new, the first is not requeued twice
    await readUntil(ctx, [`${prefix}.dlq.cache-projector`], (rs) => rs.length === 2);
    expect(await again.stop()).toBe(0); // or it would dead-letter each requeued copy once more
    const second = await requeueDeadLetters(kafka, prefix);
    expect(second.map((l) => l.offset)).toEqual([String(Number(listed[0]?.offset) + 1)]);
    expect(await requeueDeadLetters(kafka, prefix)).toHaveLength(0);
    await admin.disconnect();
  }, 120_000);
});
