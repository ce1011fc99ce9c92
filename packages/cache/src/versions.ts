/**
 * Versions as fixed-width decimal strings, so the Lua scripts compare them as strings (Redis's Lua numbers are
 * doubles and would round a 64-bit value). Two kinds, never compared with each other:
 *  - a row's `version` column (20 digits): what an entity's document carries, also known to a cache-aside fill
 *    that reads the row from Postgres;
 *  - a change event's `source.sequence` (commit LSN, 20 digits + index in the transaction, 10 digits): what set
 *    memberships carry, which only the projector writes. It orders every event of one key (Kafka keeps per-key
 *    order, and pgoutput sends transactions in commit order); a bare `source.lsn` would not.
 */

/** Greater than every version: the mark of a deleted row whose id is never used again (uuid keys). */
export const DELETED = '~';

export function rowVersion(version: unknown): string {
  const digits = typeof version === 'number' ? String(version) : typeof version === 'string' ? version : '';
  if (!/^\d{1,20}$/.test(digits)) throw new Error(`not a row version: ${String(version)}`);
  return digits.padStart(20, '0');
}

/** `["123","4"]` (Debezium's `source.sequence`) → a string that sorts as the pair of numbers does. */
export function sequenceVersion(sequence: string): string {
  const m = /^\["(\d{1,20})","(\d{1,10})"\]$/.exec(sequence);
  if (!m?.[1] || !m[2]) throw new Error(`not a change-event sequence: ${sequence}`);
  return `${m[1].padStart(20, '0')}${m[2].padStart(10, '0')}`;
}
