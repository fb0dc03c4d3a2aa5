// What the browser tests share: assertions, a tiny test runner whose output
// run.sh reads ("ok - …", "not ok - …", then "N passed, M failed"), and the
// way a test file ends its process.

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * A runner: `test(name, fn)` runs `fn` and prints `ok - name (seconds)` or
 * `not ok - name` with the error; `summary()` prints the totals and says
 * whether everything passed. With `only`, tests whose name lacks it are
 * skipped; `after` runs after every test, passed or not.
 */
export function runner({ only = undefined, after = () => {} } = {}) {
  const results = [];
  const test = async (name, fn) => {
    if (only && !name.includes(only)) return;
    const started = Date.now();
    try {
      await fn();
      results.push(true);
      console.log(`ok - ${name} (${((Date.now() - started) / 1e3).toFixed(1)} s)`);
    } catch (e) {
      results.push(false);
      console.log(`not ok - ${name}\n  ${String(e.stack ?? e).split('\n').join('\n  ')}`);
    } finally {
      after();
    }
  };
  const summary = () => {
    const passed = results.filter(Boolean).length;
    const failed = results.length - passed;
    console.log(`${passed} passed, ${failed} failed`);
    return failed === 0;
  };
  return { test, summary };
}

/** Runs a test file's `main` (which resolves to "all passed") and exits. */
export function finish(main) {
  main().then(
    (ok) => process.exit(ok ? 0 : 1),
    (e) => {
      console.log(`not ok - the test harness failed\n  ${e.stack ?? e}`);
      console.log('0 passed, 1 failed');
      process.exit(1);
    },
  );
}
