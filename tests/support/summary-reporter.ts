import type { Reporter, TestCase, TestModule, TestSuite } from 'vitest/node';

type Container = TestModule | TestSuite;

function containers(module: TestModule): Container[] {
  return [module, ...module.children.allSuites()];
}

// CI reads a plain "N passed, N failed" closing line (it does not parse vitest's own summary).
// An error in beforeAll/afterAll or at collection is a failure: the tests it kept from running
// count as failed (not skipped), and an error that stopped no test counts once.
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>, reason?: 'passed' | 'failed' | 'interrupted') {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    for (const module of testModules) {
      const broken = new Set(containers(module).filter((c) => c.errors().length > 0));
      const blamed = new Set<Container>();
      const brokenAncestor = (test: TestCase): Container | undefined => {
        for (let p: Container = test.parent; ; p = (p as TestSuite).parent) {
          if (broken.has(p)) return p;
          if (p.type === 'module') return undefined;
        }
      };
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else {
          const cause = test.options.mode === 'run' ? brokenAncestor(test) : undefined;
          if (cause) {
            failed++;
            blamed.add(cause);
          } else skipped++;
        }
      }
      for (const container of broken) if (!blamed.has(container)) failed++;
    }
    // A run that failed before any test (e.g. the global setup could not start PostgreSQL) still failed.
    if (reason !== undefined && reason !== 'passed' && failed === 0) failed = 1;
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
