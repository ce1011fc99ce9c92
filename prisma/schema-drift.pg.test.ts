/**
 * schema.prisma is written by hand (Prisma Migrate cannot run here); the migrations define the database. This test
 * migrates a fresh database and compares the two: tables, columns, types, nullability, defaults, primary keys and
 * enum values. Partitions, indexes, triggers and the publication are the SQL's alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSchema } from '@mrleebo/prisma-ast';
import type { Attribute, BlockAttribute, Enum, Field, Model } from '@mrleebo/prisma-ast';
import { describe, expect, test } from 'vitest';
import { openTestContext } from '@bgc/testkit/context';

const schema = getSchema(
  fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'schema.prisma'), 'utf8'),
);
const models = schema.list.filter((b): b is Model => b.type === 'model');
const enums = schema.list.filter((b): b is Enum => b.type === 'enum');
const unquote = (v: unknown) => String(v).replace(/^"|"$/g, '');
const mapOf = (attrs: (Attribute | BlockAttribute)[] | undefined) => {
  const arg = attrs?.find((a) => a.name === 'map')?.args?.[0]?.value;
  return arg === undefined ? undefined : unquote(arg);
};
const enumDbName = new Map(
  enums.map((e) => [e.name, mapOf(e.enumerators.filter((x): x is BlockAttribute => x.type === 'attribute')) ?? e.name]),
);

/** The Postgres type a Prisma scalar (with its @db attribute) maps to, as information_schema spells it. */
const typeName = (field: Field) => (typeof field.fieldType === 'string' ? field.fieldType : field.fieldType.name);

function pgType(field: Field): string {
  const db = field.attributes?.find((a) => a.group === 'db')?.name;
  const type = typeName(field);
  const enumName = enumDbName.get(type);
  if (enumName) return `enum:${enumName}`;
  const byType: Record<string, string> = {
    String: db === 'Uuid' ? 'uuid' : 'text',
    DateTime: db === 'Timestamptz' ? 'timestamp with time zone' : 'timestamp without time zone',
    BigInt: 'bigint',
    Int: 'integer',
    Boolean: 'boolean',
    Json: db === 'JsonB' ? 'jsonb' : 'json',
    Bytes: 'bytea',
  };
  return byType[type] ?? `unknown:${type}`;
}

interface Column {
  table: string;
  column: string;
  type: string;
  nullable: boolean;
  hasDefault: boolean;
}

describe('schema.prisma agrees with the migrated database', () => {
  test('tables, columns, types, nullability, defaults, primary keys and enums', async () => {
    await using ctx = await openTestContext('prisma-drift', { migrated: true });
    const db = await ctx.connectAs('migrator');
    // partitions are not tables of their own for Prisma: only roots and plain tables
    const tables = (
      await db.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1`,
      )
    ).rows.map((r) => r.name);
    const columns = (
      await db.query<Column>(
        `SELECT table_name AS table, column_name AS column,
                CASE WHEN data_type = 'USER-DEFINED' THEN 'enum:' || udt_name ELSE data_type END AS type,
                is_nullable = 'YES' AS nullable, column_default IS NOT NULL AS "hasDefault"
           FROM information_schema.columns WHERE table_schema = 'public'`,
      )
    ).rows;
    const primaryKeys = (
      await db.query<{ table: string; columns: string[] }>(
        `SELECT c.conrelid::regclass::text AS table,
                array_agg(a.attname::text ORDER BY array_position(c.conkey, a.attnum)) AS columns
           FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
          WHERE c.contype = 'p' AND c.connamespace = 'public'::regnamespace GROUP BY 1`,
      )
    ).rows;

    expect(
      models
        .map((m) => mapOf(m.properties.filter((p): p is BlockAttribute => p.type === 'attribute')) ?? m.name)
        .sort(),
    ).toEqual(tables);

    for (const model of models) {
      const table = mapOf(model.properties.filter((p): p is BlockAttribute => p.type === 'attribute')) ?? model.name;
      const scalars = model.properties.filter(
        (p): p is Field =>
          p.type === 'field' &&
          !p.array &&
          !p.attributes?.some((a) => a.name === 'relation') &&
          !models.some((m) => m.name === typeName(p)),
      );
      const expected = scalars
        .map((f) => ({
          table,
          column: mapOf(f.attributes) ?? f.name,
          type: pgType(f),
          nullable: f.optional,
          hasDefault: f.attributes?.some((a) => a.name === 'default') ?? false,
        }))
        .sort((a, b) => a.column.localeCompare(b.column));
      const actual = columns.filter((c) => c.table === table).sort((a, b) => a.column.localeCompare(b.column));
      expect(expected, `model ${model.name} ↔ table ${table}`).toEqual(actual);

      const idFields = scalars.filter((f) => f.attributes?.some((a) => a.name === 'id'));
      const blockId = model.properties.find((p): p is BlockAttribute => p.type === 'attribute' && p.name === 'id');
      const idNames = blockId
        ? ((blockId.args?.[0]?.value as { args: string[] } | undefined)?.args.map((n) =>
            scalars.find((f) => f.name === n),
          ) ?? [])
        : idFields;
      const pk = idNames.map((f) => (f ? (mapOf(f.attributes) ?? f.name) : '?'));
      expect(primaryKeys.find((k) => k.table === table)?.columns, `primary key of ${table}`).toEqual(pk);
    }

    const pgEnums = (
      await db.query<{ name: string; labels: string[] }>(
        `SELECT t.typname::text AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
           FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY 1 ORDER BY 1`,
      )
    ).rows;
    const prismaEnums = enums
      .map((e) => ({
        name: enumDbName.get(e.name) ?? e.name,
        labels: e.enumerators.filter((x) => x.type === 'enumerator').map((x) => x.name),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(prismaEnums).toEqual(pgEnums);
  });
});
