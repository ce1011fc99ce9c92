/**
 * Ends a run with one plain line, "tests: N passed, N failed[, N skipped]", that any log reader (CI included)
 * can parse without knowing Vitest's own summary format.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class PlainSummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const count = { passed: 0, failed: 0, skipped: 0, pending: 0 };
    for (const module of testModules) {
      for (const test of module.children.allTests()) count[test.result().state] += 1;
      // a file that failed to load has no tests but is a failure
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) count.failed += 1;
    }
    const skipped = count.skipped + count.pending;
    process.stdout.write(
      `\ntests: ${count.passed} passed, ${count.failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
    );
  }
}
