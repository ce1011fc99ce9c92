/**
 * How column values from pgoutput (text format) become JSON. pg-logical-replication parses each column with
 * node-postgres's global type parsers, looked up when a Relation message arrives, so these are installed before the
 * stream starts. The replication session runs with TimeZone=UTC, so timestamps arrive as `… +00`.
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

export function installTypeParsers(): void {
  pg.types.setTypeParser(TIMESTAMPTZ, rfc3339);
  pg.types.setTypeParser(TIMESTAMP, (t: string) => t.replace(' ', 'T'));
  pg.types.setTypeParser(DATE, (t: string) => t);
  pg.types.setTypeParser(INT8, (t: string) => {
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : t;
  });
  // `\x0a1b…` → base64, as Debezium encodes bytes
  pg.types.setTypeParser(BYTEA, (t: string) => Buffer.from(t.slice(2), 'hex').toString('base64'));
}
