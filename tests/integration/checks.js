// Pass/fail counting for the Node workloads, printed as the suites expect ("N passed, N failed").
'use strict';

const counts = { passed: 0, failed: 0 };

function check(cond, what, detail) {
  if (cond) {
    counts.passed++;
  } else {
    counts.failed++;
    console.log(`FAIL ${what}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
  }
}

// Prints the summary (extraFailed: a failure found outside check()) and exits 1 on any failure.
function finish(extraFailed = 0) {
  const failed = counts.failed + extraFailed;
  console.log(`${counts.passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

module.exports = { check, counts, finish };
