/**
 * Ended SDK spans as an OTLP `ExportTraceServiceRequest` in protobuf, written in one pass into a reused buffer.
 *
 * Why not the transformer's `ProtobufTraceSerializer`: it walks every span twice (a size pass, then the write), and
 * for each string calls into the engine's UTF-8 encoder and for each id through `hexToBinary`. In the write API at
 * 1,500 sends/s that was about 40 µs a span and an eighth of the process's CPU (profiles, sessions 9 and 10).
 * Here short ASCII strings, which are nearly all of a span's, are copied byte by byte, ids are decoded through a
 * table, a nested message reserves one byte for its length and moves its body only when the length needs more, and
 * a resource's or a scope's encoding is kept for the next chunk (they are the same objects for the life of a tracer
 * provider). The output is byte for byte what the transformer writes (`otlp-trace-encoder.test.ts` holds this),
 * so the wire format stays the library's.
 */
import type { Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

type Resource = ReadableSpan['resource'];
type Scope = ReadableSpan['instrumentationScope'];

const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;
const TWO_32 = 4294967296;
const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

/** hex digit → its value, 255 for anything else */
const NIBBLE = new Uint8Array(256).fill(255);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) NIBBLE[65 + i] = NIBBLE[97 + i] = 10 + i;

const varintSize = (v: number) => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

export class OtlpTraceEncoder {
  #buf = Buffer.allocUnsafe(64 * 1024);
  #view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  #pos = 0;
  /** encoded `Resource` and `InstrumentationScope` messages (with their tags), by identity */
  readonly #resources = new WeakMap<Resource, Uint8Array>();
  readonly #scopes = new WeakMap<Scope, Uint8Array>();

  /** One request holding `spans`, grouped by resource, then scope, in the order they first appear; a fresh copy. */
  encode(spans: readonly ReadableSpan[]): Uint8Array {
    this.#pos = 0;
    for (const [resource, scopes] of group(spans)) {
      const start = this.#begin(1);
      this.#raw(this.#resourceBytes(resource));
      for (const scopeSpans of scopes.values()) {
        const scope = (scopeSpans[0] as ReadableSpan).instrumentationScope;
        const scopeStart = this.#begin(2);
        this.#raw(this.#scopeBytes(scope));
        for (const span of scopeSpans) this.#span(span);
        if (scope.schemaUrl) this.#stringField(3, scope.schemaUrl);
        this.#end(scopeStart);
      }
      if (resource.schemaUrl) this.#stringField(3, resource.schemaUrl);
      this.#end(start);
    }
    return this.#copy(0);
  }

  #resourceBytes(resource: Resource): Uint8Array {
    // attributes still being detected may change: such a resource is encoded again next time
    return this.#cached(this.#resources, resource, !resource.asyncAttributesPending, () => {
      const start = this.#begin(1);
      this.#attributes(1, resource.attributes);
      this.#tag(2, 0);
      this.#varint(0);
      this.#end(start);
    });
  }

  #scopeBytes(scope: Scope): Uint8Array {
    return this.#cached(this.#scopes, scope, true, () => {
      const start = this.#begin(1);
      this.#stringField(1, scope.name);
      if (scope.version) this.#stringField(2, scope.version);
      const { attributes, droppedAttributesCount } = scope as Scope & {
        attributes?: Attributes;
        droppedAttributesCount?: number;
      };
      if (attributes) this.#attributes(3, attributes);
      if (droppedAttributesCount) {
        this.#tag(4, 0);
        this.#varint(droppedAttributesCount);
      }
      this.#end(start);
    });
  }

  /**
   * `key`'s encoding from `cache`, or what `write` writes for it (at the end of the buffer, which is left as it was),
   * kept in `cache` when `keep`.
   */
  #cached<K extends object>(cache: WeakMap<K, Uint8Array>, key: K, keep: boolean, write: () => void): Uint8Array {
    const cached = cache.get(key);
    if (cached) return cached;
    const from = this.#pos;
    write();
    const bytes = this.#copy(from);
    this.#pos = from;
    if (keep) cache.set(key, bytes);
    return bytes;
  }

  /** The bytes written from `from` on, as a copy: the buffer is reused by the next call. */
  #copy(from: number): Uint8Array {
    return new Uint8Array(this.#buf.subarray(from, this.#pos));
  }

  #span(span: ReadableSpan): void {
    const start = this.#begin(2);
    const ctx = span.spanContext();
    this.#id(1, ctx.traceId, 16);
    this.#id(2, ctx.spanId, 8);
    const traceState = ctx.traceState?.serialize();
    if (traceState) this.#stringField(3, traceState);
    const parent = span.parentSpanContext;
    if (parent?.spanId) this.#id(4, parent.spanId, 8);
    this.#stringField(5, span.name);
    const kind = ((span.kind as number | undefined) ?? -1) + 1; // OTLP's kinds are the API's plus one; 0 unspecified
    if (kind !== 0) {
      this.#tag(6, 0);
      this.#varint(kind);
    }
    this.#tag(7, 1);
    this.#hrTime(span.startTime);
    this.#tag(8, 1);
    this.#hrTime(span.endTime);
    this.#attributes(9, span.attributes);
    this.#tag(10, 0);
    this.#varint(span.droppedAttributesCount);
    for (const event of span.events) this.#event(event);
    this.#tag(12, 0);
    this.#varint(span.droppedEventsCount);
    for (const link of span.links) this.#link(link);
    this.#tag(14, 0);
    this.#varint(span.droppedLinksCount);
    const status = this.#begin(15);
    if (span.status.message) this.#stringField(2, span.status.message);
    this.#tag(3, 0);
    this.#varint(span.status.code);
    this.#end(status);
    this.#tag(16, 5);
    this.#fixed32(flags(ctx, parent?.isRemote));
    this.#end(start);
  }

  #event(event: TimedEvent): void {
    const start = this.#begin(11);
    this.#tag(1, 1);
    this.#hrTime(event.time);
    this.#stringField(2, event.name);
    if (event.attributes) this.#attributes(3, event.attributes);
    this.#tag(4, 0);
    this.#varint(event.droppedAttributesCount ?? 0);
    this.#end(start);
  }

  #link(link: Link): void {
    const start = this.#begin(13);
    const ctx = link.context;
    this.#id(1, ctx.traceId, 16);
    this.#id(2, ctx.spanId, 8);
    const traceState = ctx.traceState?.serialize();
    if (traceState) this.#stringField(3, traceState);
    if (link.attributes) this.#attributes(4, link.attributes);
    this.#tag(5, 0);
    this.#varint(link.droppedAttributesCount ?? 0);
    this.#tag(6, 5);
    this.#fixed32(flags(ctx, ctx.isRemote));
    this.#end(start);
  }

  /** repeated KeyValue; own enumerable keys, as `for…in` with `hasOwnProperty` gives them */
  #attributes(field: number, attributes: Attributes): void {
    for (const key in attributes) {
      if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
      this.#keyValue(field, key, attributes[key]);
    }
  }

  #keyValue(field: number, key: string, value: unknown): void {
    const start = this.#begin(field);
    this.#stringField(1, key);
    const valueStart = this.#begin(2);
    this.#anyValue(value);
    this.#end(valueStart);
    this.#end(start);
  }

  /** AnyValue's one field; nothing for null, undefined and types OTLP has no place for (as the library does) */
  #anyValue(value: unknown): void {
    switch (typeof value) {
      case 'string':
        return this.#stringField(1, value);
      case 'boolean':
        this.#tag(2, 0);
        return this.#varint(value ? 1 : 0);
      case 'number':
        if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) {
          this.#tag(3, 0);
          return this.#varint(value);
        }
        this.#tag(4, 1);
        this.#ensure(8);
        this.#view.setFloat64(this.#pos, value, true);
        this.#pos += 8;
        return;
      case 'object':
        if (value === null) return;
        if (value instanceof Uint8Array) {
          this.#tag(7, 2);
          this.#varint(value.length);
          return this.#raw(value);
        }
        if (Array.isArray(value)) {
          const start = this.#begin(5);
          for (const item of value as unknown[]) {
            const itemStart = this.#begin(1);
            this.#anyValue(item);
            this.#end(itemStart);
          }
          return this.#end(start);
        }
        {
          const start = this.#begin(6);
          const obj = value as Record<string, unknown>;
          for (const k in obj) {
            if (Object.prototype.hasOwnProperty.call(obj, k)) this.#keyValue(1, k, obj[k]);
          }
          return this.#end(start);
        }
      default:
        return;
    }
  }

  // --- the wire format

  #ensure(bytes: number): void {
    const needed = this.#pos + bytes;
    if (needed <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.#buf.copy(grown, 0, 0, this.#pos);
    this.#buf = grown;
    this.#view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  #tag(field: number, wireType: number): void {
    this.#varint((field << 3) | wireType);
  }

  /** A length-delimited field's tag and one byte for its length; returns where the length goes. */
  #begin(field: number): number {
    this.#tag(field, 2);
    this.#ensure(1);
    return this.#pos++;
  }

  /** Writes the length at `at`, first moving the body along when the length needs more than the byte it has. */
  #end(at: number): void {
    const length = this.#pos - at - 1;
    const size = varintSize(length);
    if (size > 1) {
      this.#ensure(size - 1);
      this.#buf.copyWithin(at + size, at + 1, this.#pos);
      this.#pos += size - 1;
    }
    let v = length;
    let p = at;
    while (v > 0x7f) {
      this.#buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.#buf[p] = v;
  }

  /** uint32 or int64 (two's complement over 64 bits, 10 bytes when negative), as the library writes them */
  #varint(value: number): void {
    this.#ensure(10);
    const buf = this.#buf;
    let pos = this.#pos;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 0x7f) {
        buf[pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      buf[pos++] = v;
    } else {
      const abs = Math.abs(value);
      let low = abs >>> 0;
      let high = (abs / TWO_32) >>> 0;
      if (value < 0) {
        low = ~low >>> 0;
        high = ~high >>> 0;
        low = (low + 1) >>> 0;
        if (low === 0) high = (high + 1) >>> 0;
      }
      while (high > 0 || low > 0x7f) {
        buf[pos++] = (low & 0x7f) | 0x80;
        low = ((low >>> 7) | (high << 25)) >>> 0;
        high >>>= 7;
      }
      buf[pos++] = low & 0x7f;
    }
    this.#pos = pos;
  }

  #fixed32(value: number): void {
    this.#ensure(4);
    this.#buf.writeUInt32LE(value >>> 0, this.#pos);
    this.#pos += 4;
  }

  /** [seconds, nanoseconds] as fixed64 nanoseconds, exactly (the product exceeds 2^53, so it is split) */
  #hrTime([seconds, nanos]: HrTime): void {
    const lowSecs = seconds & 0xffff;
    const highSecs = (seconds / 65536) >>> 0;
    const fromLow = lowSecs * 1e9;
    const fromHigh = highSecs * 1e9;
    const low = (fromLow >>> 0) + (((fromHigh & 0xffff) * 65536) >>> 0) + nanos;
    const high = (Math.floor(fromLow / TWO_32) + ((fromHigh / 65536) >>> 0) + Math.floor(low / TWO_32)) >>> 0;
    this.#ensure(8);
    this.#buf.writeUInt32LE(low >>> 0, this.#pos);
    this.#buf.writeUInt32LE(high, this.#pos + 4);
    this.#pos += 8;
  }

  #raw(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /** A trace or span id from hex; an id that is not `bytes` hex digits is decoded as the library would. */
  #id(field: number, hex: string, bytes: number): void {
    this.#tag(field, 2);
    this.#ensure(1 + bytes);
    const buf = this.#buf;
    let pos = this.#pos + 1;
    let valid = hex.length === bytes * 2;
    for (let i = 0; valid && i < hex.length; i += 2) {
      const hi = NIBBLE[hex.charCodeAt(i)] ?? 255; // beyond the table: not a hex digit either
      const lo = NIBBLE[hex.charCodeAt(i + 1)] ?? 255;
      if ((hi | lo) > 15) valid = false;
      buf[pos++] = (hi << 4) | lo;
    }
    if (!valid) {
      const decoded = hexBytes(hex);
      this.#varint(decoded.length);
      return this.#raw(decoded);
    }
    buf[this.#pos] = bytes;
    this.#pos = pos;
  }

  /** A string field: ASCII byte by byte, anything else through Node's UTF-8 encoder. */
  #stringField(field: number, s: string): void {
    this.#tag(field, 2);
    const n = s.length;
    const lengthAt = this.#pos;
    this.#varint(n); // right when every character is ASCII, checked below
    this.#ensure(n);
    const buf = this.#buf;
    let pos = this.#pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.#pos = lengthAt;
        const length = Buffer.byteLength(s, 'utf8');
        this.#varint(length);
        this.#ensure(length);
        this.#pos += this.#buf.write(s, this.#pos, 'utf8');
        return;
      }
      buf[pos++] = c;
    }
    this.#pos = pos;
  }
}

/** OTLP span flags: the W3C trace flags and whether the parent's context came from another process. */
function flags(ctx: SpanContext, isRemote: boolean | undefined): number {
  return (ctx.traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0);
}

/** Decodes hex as the transformer's `hexToBinary` does, for ids of unexpected form. */
function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  let j = 0;
  for (let i = 0; i < hex.length; i += 2) {
    const hi = hexDigit(hex.charCodeAt(i));
    const lo = hexDigit(hex.charCodeAt(i + 1));
    out[j++] = (hi << 4) | lo;
  }
  return out;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return c - 55;
}

/** spans by resource, then by scope, by identity, in the order each first appears */
function group(spans: readonly ReadableSpan[]): Map<Resource, Map<Scope, ReadableSpan[]>> {
  const byResource = new Map<Resource, Map<Scope, ReadableSpan[]>>();
  for (const span of spans) {
    let byScope = byResource.get(span.resource);
    if (!byScope) {
      byScope = new Map<Scope, ReadableSpan[]>();
      byResource.set(span.resource, byScope);
    }
    const list = byScope.get(span.instrumentationScope);
    if (list) list.push(span);
    else byScope.set(span.instrumentationScope, [span]);
  }
  return byResource;
}
