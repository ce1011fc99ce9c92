/**
 * pgoutput's row messages (Insert, Update, Delete) parsed in one pass over the bytes. pg-logical-replication's
 * parser reads each column through a `BinaryReader` call per field, a `Buffer` view and a `TextDecoder` call
 * (parsing was an eighth of this service's CPU at full speed, profiled in bench/cdc-throughput.ts; what is left is
 * mostly making the strings themselves). The values are the library's, to the byte (`pgoutput-rows.test.ts`
 * compares the two on random rows): each column's text goes through the type parser the library picked for the
 * relation. Every other message, Relation included, is still the library's.
 */
import { PgoutputPlugin } from 'pg-logical-replication';
import type { Pgoutput } from 'pg-logical-replication';

type Row = Record<string, unknown>;

// the library decodes with a shared non-fatal TextDecoder, which drops a leading byte-order mark: text that starts
// with one keeps going that way, so its value does not change
const textDecoder = new TextDecoder();

const INSERT = 0x49; // I
const UPDATE = 0x55; // U
const DELETE = 0x44; // D
const RELATION = 0x52; // R
const KEY = 0x4b; // K
const OLD = 0x4f; // O
const NEW = 0x4e; // N

const endOfMessage = () => new Error('unexpected end of message');

export class RowsPgoutputPlugin extends PgoutputPlugin {
  /** the relations the library parsed, by oid: the same objects its own row messages would carry */
  readonly #relations = new Map<number, Pgoutput.MessageRelation>();

  override parse(buffer: Buffer): Pgoutput.Message {
    const tag = buffer[0];
    if (tag === INSERT || tag === UPDATE || tag === DELETE) return parseRow(buffer, this.#relations);
    const msg = super.parse(buffer);
    if (tag === RELATION) this.#relations.set((msg as Pgoutput.MessageRelation).relationOid, msg as never);
    return msg;
  }
}

/** An Insert, Update or Delete message (`buffer[0]` is its tag), as the library's parser returns it. */
export function parseRow(buffer: Buffer, relations: ReadonlyMap<number, Pgoutput.MessageRelation>): Pgoutput.Message {
  if (buffer.length < 6) throw endOfMessage();
  const relation = relations.get(buffer.readInt32BE(1));
  if (!relation) throw Error('missing relation');
  const reader: TupleReader = { buf: buffer, p: 6 };
  const sub = buffer[5];
  switch (buffer[0]) {
    case INSERT:
      // the library does not check this byte ('N')
      return { tag: 'insert', relation, new: readTuple(reader, relation, undefined) };
    case UPDATE: {
      let key: Row | null = null;
      let old: Row | null = null;
      let next: Row;
      if (sub === KEY) {
        key = keyOf(readTuple(reader, relation, undefined), relation);
        reader.p += 1; // 'N'
        next = readTuple(reader, relation, undefined);
      } else if (sub === OLD) {
        old = readTuple(reader, relation, undefined);
        reader.p += 1; // 'N'
        next = readTuple(reader, relation, old);
      } else if (sub === NEW) {
        next = readTuple(reader, relation, undefined);
      } else {
        throw Error(`unknown submessage key ${String.fromCharCode(sub ?? 0)}`);
      }
      return { tag: 'update', relation, key, old, new: next };
    }
    default: {
      let key: Row | null = null;
      let old: Row | null = null;
      if (sub === KEY) key = keyOf(readTuple(reader, relation, undefined), relation);
      else if (sub === OLD) old = readTuple(reader, relation, undefined);
      else throw Error(`unknown submessage key ${String.fromCharCode(sub ?? 0)}`);
      return { tag: 'delete', relation, key, old };
    }
  }
}

interface TupleReader {
  buf: Buffer;
  p: number;
}

/** TupleData: a column count, then per column a kind byte and, for text and binary, an int32 length and bytes. */
function readTuple(reader: TupleReader, relation: Pgoutput.MessageRelation, unchangedToast: Row | undefined): Row {
  const { buf } = reader;
  let p = reader.p;
  if (p + 2 > buf.length) throw endOfMessage();
  const count = (buf[p] as number) * 256 + (buf[p + 1] as number);
  p += 2;
  const { columns } = relation;
  // the library's shape: no prototype, so a column may be named like one of Object's properties
  const tuple = Object.create(null) as Row;
  for (let i = 0; i < count; i++) {
    const column = columns[i];
    if (column === undefined) throw Error(`column ${i} of ${relation.schema}.${relation.name} is not in its relation`);
    if (p + 1 > buf.length) throw endOfMessage();
    const kind = buf[p++];
    if (kind === 0x74 || kind === 0x62) {
      // 't' text, 'b' binary
      if (p + 4 > buf.length) throw endOfMessage();
      const size = buf.readInt32BE(p);
      p += 4;
      const end = p + size;
      if (size < 0 || end > buf.length) throw endOfMessage();
      if (kind === 0x62) tuple[column.name] = buf.subarray(p, end);
      else tuple[column.name] = column.parser(textOf(buf, p, end));
      p = end;
    } else if (kind === 0x6e) {
      tuple[column.name] = null; // 'n'
    } else if (kind === 0x75) {
      tuple[column.name] = unchangedToast?.[column.name]; // 'u': an unchanged TOASTed value the WAL does not carry
    } else {
      throw Error(`unknown attribute kind ${String.fromCharCode(kind ?? 0)}`);
    }
  }
  reader.p = p;
  return tuple;
}

function textOf(buf: Buffer, start: number, end: number): string {
  if (buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf && end - start >= 3) {
    return textDecoder.decode(buf.subarray(start, end));
  }
  return buf.toString('utf8', start, end);
}

/** The key columns of a key-only tuple (the library's `readKeyTuple`: a null there is a non-key placeholder). */
function keyOf(tuple: Row, relation: Pgoutput.MessageRelation): Row {
  const key = Object.create(null) as Row;
  for (const k of relation.keyColumns) key[k] = tuple[k] === null ? undefined : tuple[k];
  return key;
}
