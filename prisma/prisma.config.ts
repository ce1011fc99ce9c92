// Prisma 7 reads the datasource from here. Only `prisma generate` runs on the project's machines (Prisma Migrate's
// schema engine is a download from outside the registries); migrations are the SQL in migrations/.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
});
