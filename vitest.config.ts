/**
 * Three projects. `unit` needs nothing running. `integration` runs files whose name says which services they need
 * (*.pg.test.ts, *.kafka.test.ts, *.redis.test.ts, *.jaeger.test.ts, *.prom.test.ts, *.stack.test.ts); its global
 * setup starts (or reuses) the local stack once and provides the endpoints; each file isolates itself with
 * openTestContext() from @bgc/testkit. `disruptive` (*.disruptive.test.ts) holds tests that stop or restart a shared
 * service (the Kafka broker): they run after the others, one file at a time, so no other test sees the outage.
 */
import { defineConfig } from 'vitest/config';

const needsStack = ['pg', 'kafka', 'redis', 'jaeger', 'prom', 'stack'].map((s) => `**/*.${s}.test.ts`);
const disruptive = ['**/*.disruptive.test.ts'];
const exclude = ['**/node_modules/**', '.stack/**'];

export default defineConfig({
  test: {
    reporters: ['default', './packages/testkit/src/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: [...exclude, ...needsStack, ...disruptive],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: needsStack,
          exclude,
          globalSetup: ['packages/testkit/src/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // 2 cores and a whole stack on them: a few files at a time
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'disruptive',
          include: disruptive,
          exclude,
          globalSetup: ['packages/testkit/src/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
