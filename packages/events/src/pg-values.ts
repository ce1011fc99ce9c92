/**
 * How column values become JSON in change events. pg-logical-replication parses each column from pgoutput's text
 * format with node-postgres's global type parsers, looked up when a Relation message arrives, so the CDC service
 * installs these before the stream starts; the replication session runs with TimeZone=UTC, so timestamps arrive as
 * `… +00`. The write API's write-through reads rows with the same parsers per query (`changeEventTypes`), so what it
 * writes to Redis is byte for byte what the projector would write from the row's change event.
 */
import pg from 'pg';

const TIMESTAMPTZ = 1184;
const TIMESTAMP = 1114;
const DATE = 1082;
const INT8 = 20;
const BYTEA = 17;

/** `2026-11-28 02:13:59.123456+00` → `2026-11-28T02:13:59.123456Z` (microseconds kept; a JS Date would drop them) */
export function rfc3339(text: string): string {
  const t = text.replace(' ', 'T');
  if (t.endsWith('+00')) return `${t.slice(0, -3)}Z`;
  return /[+-]\d\d$/.test(t) ? `${t}:00` : t;
}

const PARSERS: Record<number, (text: string) => unknown> = {
  [TIMESTAMPTZ]: rfc3339,
  [TIMESTAMP]: (t) => t.replace(' ', 'T'),
  [DATE]: (t) => t,
  [INT8]: (t) => {
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : t;
  },
  // `\x0a1b…` → base64, as Debezium encodes bytes
  [BYTEA]: (t) => Buffer.from(t.slice(2), 'hex').toString('base64'),
};

export function installTypeParsers(): void {
  for (const [oid, parse] of Object.entries(PARSERS)) pg.types.setTypeParser(Number(oid), parse);
}

/**
 * The same parsers for one query (`pool.query({ text, values, types: changeEventTypes })`). Timestamps are rendered
 * as the CDC's are only when the session's TimeZone is UTC: run such queries on a connection with `TimeZone=UTC`
 * (or `SET LOCAL TimeZone = 'UTC'`).
 */
export const changeEventTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number) =>
    PARSERS[oid] ??
    (pg.types.getTypeParser(oid, 'text') as (text: string) => unknown)) as pg.CustomTypesConfig['getTypeParser'],
};
