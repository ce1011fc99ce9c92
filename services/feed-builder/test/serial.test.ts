import { describe, expect, test } from 'vitest';
import { Serial } from '../src/serial.ts';

describe('Serial', () => {
  test('tasks run one at a time, in the order asked, and a failure does not stop the next', async () => {
    const serial = new Serial();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) =>
      serial.run(async () => {
        log.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([task('chunk', 20), task('rebuild', 1, true), task('chunk 2', 5)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(log).toEqual(['start chunk', 'end chunk', 'start rebuild', 'end rebuild', 'start chunk 2', 'end chunk 2']);
  });
});
