import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';
import { allRoutes } from '../src/app.ts';
import { startWriteApi } from './server.ts';

interface Document {
  openapi: string;
  paths: Record<string, Record<string, { requestBody?: unknown; security?: unknown }>>;
}

describe('write-api: the OpenAPI document', () => {
  test('is served and lists exactly the routes the server answers, with their bodies and auth', async () => {
    await using ctx = await openTestContext('wapi-openapi', { migrated: true });
    await using server = await startWriteApi(ctx);
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as Document;
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    const served = allRoutes.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(documented.sort()).toEqual(served.sort());

    for (const r of allRoutes) {
      const op = doc.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method];
      expect(Boolean(op?.requestBody), `${r.method} ${r.path} body`).toBe(Boolean(r.body));
      expect(Boolean(op?.security), `${r.method} ${r.path} auth`).toBe(r.auth);
      // every documented route answers (never the 404 of an unknown route)
      const path = r.path.replace(/:(\w+)/g, '00000000-0000-0000-0000-000000000000');
      const res = await fetch(`${server.url}${path}`, { method: r.method.toUpperCase() });
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
      expect(body.error?.code, `${r.method} ${r.path}`).not.toBe('NO_SUCH_ROUTE');
    }
  });
});
