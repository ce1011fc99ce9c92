import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { client, signUp } from './client.ts';
import { startWriteApi } from './server.ts';

describe('write-api: what operators see', () => {
  test('/metrics has latency per route, errors by code and pool usage; refusals are logged with their trace id', async () => {
    await using ctx = await openTestContext('wapi-metrics', { migrated: true });
    // nothing here is "slow" (a busy machine could make a success take longer than the default 250 ms)
    await using server = await startWriteApi(ctx, { BGC_WRITE_API_SLOW_REQUEST_MS: '60000' });
    const api = client(server.url);
    const ann = await signUp(api, 'Ann');
    await api.post('/v1/rooms', { name: 'lobby' }, { token: ann.token });
    await api.post('/v1/rooms', { name: '' }, { token: ann.token }); // a 400
    await api.post('/v1/rooms', { name: 'x' }); // a 401

    const text = await (await fetch(`${server.url}/metrics`)).text();
    const sample = (name: string, labels: string) =>
      Number(new RegExp(`^${name}\\{[^}]*${labels}[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    expect(sample('http_request_duration_seconds_count', 'route="/v1/rooms",status="201"')).toBe(1);
    expect(sample('http_request_duration_seconds_count', 'route="/v1/auth/signup",status="201"')).toBe(1);
    expect(sample('http_errors_total', 'code="VALIDATION_FAILED",status="400"')).toBe(1);
    expect(sample('http_errors_total', 'code="UNAUTHENTICATED",status="401"')).toBe(1);
    expect(sample('db_pool_connections', 'state="total"')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^process_cpu_seconds_total\{service="write-api"\} /m);

    // refusals, failures and slow answers are logged with their route, status and trace; fast successes are not
    // (at the default level: they are in the metrics and traces)
    await new Promise((r) => setTimeout(r, 400)); // logs are flushed every 250 ms
    const lines = server.logs
      .filter((l) => l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const refused = lines.find((l) => l.route === '/v1/rooms' && l.status === 400);
    expect(refused?.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(refused?.level).toBe('info');
    expect(lines.find((l) => l.route === '/v1/rooms' && l.status === 201)).toBeUndefined();
  });
});
