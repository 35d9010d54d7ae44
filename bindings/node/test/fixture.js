'use strict';
// Locates the cross-runtime test fixture written by
// `cargo run --release --example cross_runtime_fixture` (or given by env).
// Not a test file itself: `npm test` only runs test/*.test.js.
const fs = require('node:fs');
const path = require('node:path');

const targetDir = path.resolve(__dirname, '..', '..', '..', 'target');
const modelPath =
  process.env.SIGHTLINE_TEST_MODEL || path.join(targetDir, 'sightline-test-model.slm');
const expectedPath =
  process.env.SIGHTLINE_TEST_EXPECTED || path.join(targetDir, 'sightline-test-expected.json');

function loadFixture() {
  if (!fs.existsSync(modelPath) || !fs.existsSync(expectedPath)) {
    throw new Error(
      `test fixture missing (${modelPath}, ${expectedPath}); run ` +
        '`cargo run --release --example cross_runtime_fixture` in the workspace first ' +
        'or set SIGHTLINE_TEST_MODEL / SIGHTLINE_TEST_EXPECTED',
    );
  }
  return {
    modelPath,
    bytes: fs.readFileSync(modelPath),
    expected: JSON.parse(fs.readFileSync(expectedPath, 'utf8')),
  };
}

/** The user's training items as listed in the expected file (`liked`). */
function seenItems(entry) {
  return entry.liked ?? entry.seen ?? null;
}

module.exports = { loadFixture, seenItems };
