/**
 * Streams generated rows into a table with COPY … FROM STDIN (text format, pg-copy-streams). Rows are sent in
 * ~64 KB writes with backpressure, and a new COPY statement starts every `chunkRows` rows: a COPY's foreign-key
 * checks are queued as after-row trigger events until the statement ends, so one 20M-row COPY would hold tens of
 * millions of them in the backend's memory.
 */
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

export interface CopyOptions {
  chunkRows?: number;
  /** Called with each batch of rows sent. */
  onRows?: (n: number) => void;
}

const WRITE_BYTES = 64 * 1024;

export async function copyRows(
  client: pg.ClientBase,
  table: string,
  columns: string,
  rows: Iterable<string>,
  opts: CopyOptions = {},
): Promise<number> {
  const chunkRows = opts.chunkRows ?? 250_000;
  const it = rows[Symbol.iterator]();
  let total = 0;
  let next = it.next();
  while (!next.done) {
    const stream = client.query(copyFrom(`COPY ${table} (${columns}) FROM STDIN`));
    const done = finished(stream);
    // a failure while we are still writing surfaces through the 'drain' wait; `done` is awaited after end()
    done.catch(() => undefined);
    let buf = '';
    let batch = 0;
    let inChunk = 0;
    for (; !next.done && inChunk < chunkRows; next = it.next()) {
      buf += next.value;
      batch++;
      inChunk++;
      if (buf.length >= WRITE_BYTES) {
        const ok = stream.write(buf);
        opts.onRows?.(batch);
        total += batch;
        buf = '';
        batch = 0;
        if (!ok) await once(stream, 'drain'); // rejects if the COPY fails meanwhile
      }
    }
    if (buf) stream.write(buf);
    stream.end();
    await done;
    opts.onRows?.(batch);
    total += batch;
  }
  return total;
}
