import crypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { client, signUp } from '../../write-api/test/client.ts';
import { startWriteApi } from '../../write-api/test/server.ts';
import { cdcNames, startCdc } from './cdc-process.ts';
import { readUntil } from './topic-reader.ts';

interface JaegerTrace {
  spans: { operationName: string; processID: string }[];
  processes: Record<string, { serviceName: string }>;
}

describe('cdc: one trace from the HTTP request to Kafka', () => {
  test('a message sent through the write API is one Jaeger trace with write-api and cdc spans, and its Kafka record carries the trace', async () => {
    await using ctx = await openTestContext('cdc-trace', { migrated: true });
    await using cdc = await startCdc(ctx);
    await using server = await startWriteApi(ctx);
    const api = client(server.url);
    const ann = await signUp(api, 'Ann');
    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });

    const traceId = crypto.randomBytes(16).toString('hex');
    const sent = await api.post<{ id: string }>(
      `/v1/rooms/${room.body.id}/messages`,
      { content: 'follow me' },
      { token: ann.token, headers: { traceparent: `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01` } },
    );
    expect(sent.status).toBe(201);

    const { prefix } = cdcNames(ctx);
    const records = await readUntil(ctx, [`${prefix}.public.messages`], (rs) =>
      rs.some((r) => r.value?.includes(sent.body.id)),
    );
    const record = records.find((r) => r.value?.includes(sent.body.id));
    expect(record?.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

    // Jaeger holds both services' spans under the request's trace id
    let names: string[] = [];
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const res = await fetch(`${ctx.urls.jaegerUrl}/api/traces/${traceId}`);
      if (res.ok) {
        const t = ((await res.json()) as { data: JaegerTrace[] }).data[0];
        names = t ? t.spans.map((s) => `${t.processes[s.processID]?.serviceName}:${s.operationName}`) : [];
        if (names.includes('cdc:cdc publish messages') && names.some((n) => n.startsWith('write-api:POST'))) break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(names).toContain('cdc:cdc publish messages');
    expect(names).toContain('write-api:POST /v1/rooms/:roomId/messages');
    expect(await cdc.stop()).toBe(0);
  });

  test('sends batched into one statement each keep their own trace through CDC to Kafka', async () => {
    await using ctx = await openTestContext('cdc-trace-batch', { migrated: true });
    await using cdc = await startCdc(ctx);
    // one statement at a time, so concurrent sends share statements (and transactions)
    await using server = await startWriteApi(ctx, { BGC_WRITE_API_BATCH_IN_FLIGHT: '1' });
    const api = client(server.url);
    const ann = await signUp(api, 'Ann');
    const room = await api.post<{ id: string }>('/v1/rooms', { name: 'lobby' }, { token: ann.token });

    const traceIds = Array.from({ length: 12 }, () => crypto.randomBytes(16).toString('hex'));
    const sent = await Promise.all(
      traceIds.map((traceId, i) =>
        api.post<{ id: string }>(
          `/v1/rooms/${room.body.id}/messages`,
          { content: `batched ${i}` },
          { token: ann.token, headers: { traceparent: `00-${traceId}-${crypto.randomBytes(8).toString('hex')}-01` } },
        ),
      ),
    );
    expect(sent.map((r) => r.status)).toEqual(traceIds.map(() => 201));

    const { prefix } = cdcNames(ctx);
    const records = await readUntil(ctx, [`${prefix}.public.messages`], (rs) =>
      sent.every((s) => rs.some((r) => r.value?.includes(s.body.id))),
    );
    const txIds = new Set<number>();
    sent.forEach((s, i) => {
      const record = records.find((r) => r.value?.includes(s.body.id));
      expect(record?.headers.traceparent, `send ${i}`).toMatch(new RegExp(`^00-${traceIds[i]}-[0-9a-f]{16}-01$`));
      txIds.add((JSON.parse(record?.value ?? '{}') as { source: { txId: number } }).source.txId);
    });
    expect(txIds.size).toBeLessThan(sent.length); // some sends did share a transaction
    expect(await cdc.stop()).toBe(0);
  });
});
