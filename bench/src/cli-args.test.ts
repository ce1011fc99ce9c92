import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, test } from 'vitest';

const script = path.join(import.meta.dirname, '..', 'explain.ts');
const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });

test('--help prints the script header, where its options are documented, and exits 0', () => {
  const r = run('--help');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^Prints how each production query is planned/);
  expect(r.stdout).toContain('node bench/explain.ts [--db NAME | --url URL]');
  expect(r.stdout).not.toMatch(/^\s*\*/m);
});

test('an unknown option is one line naming it and pointing to --help, exit 2, no stack trace', () => {
  const r = run('--dbb', 'x');
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/^Unknown option '--dbb'[^\n]*\n--help lists the options\.\n$/);
});
