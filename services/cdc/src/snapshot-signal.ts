/**
 * The operators' request for a snapshot while the stream runs: a transactional logical message
 * `bgc.cdc.signal` = `{"type":"snapshot","tables":["public.users"]}` (Debezium's signal, carried in the WAL
 * itself rather than a signal table, so it needs no table and arrives in commit order). `cli.ts` sends it.
 */
import type { PublishedTable } from './source-setup.ts';

export type Signal = { ok: true; tables: string[] } | { ok: false; reason: string };

export function parseSignal(content: string, published: readonly PublishedTable[]): Signal {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return { ok: false, reason: `not JSON: ${content.slice(0, 100)}` };
  }
  const { type, tables } = (parsed ?? {}) as { type?: unknown; tables?: unknown };
  if (type !== 'snapshot') return { ok: false, reason: `unknown signal type ${String(type)}` };
  if (!Array.isArray(tables) || tables.length === 0) return { ok: false, reason: 'no tables named' };
  const names = new Set(published.map((t) => `${t.schema}.${t.table}`));
  const unknown = tables.filter((t) => typeof t !== 'string' || !names.has(t));
  if (unknown.length > 0) return { ok: false, reason: `not published: ${unknown.map(String).join(', ')}` };
  // in publication order, as the initial snapshot reads them
  return { ok: true, tables: [...names].filter((n) => (tables as string[]).includes(n)) };
}
