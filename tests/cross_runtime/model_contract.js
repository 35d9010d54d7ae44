'use strict';
// The model contract every JavaScript runtime of sightline (the napi-rs addon in
// bindings/node, the wasm-bindgen module in bindings/wasm) must meet on the
// cross-runtime fixture: a model file written by Rust and the answers Rust gave.
//
//   cargo run --release --example cross_runtime_fixture
//
// writes target/sightline-test-model.slm and target/sightline-test-expected.json;
// SIGHTLINE_TEST_MODEL / SIGHTLINE_TEST_EXPECTED override those paths.
//
// Not a test file itself (its name matches no `node --test` pattern): each
// runtime's test file calls `registerModelContract` with its own loaders and
// adds its runtime-only tests; tests/cross_runtime/js_runtimes.test.js
// registers it for both runtimes at once.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

/** Largest allowed |score - Rust score|. */
const TOL = 1e-5;

const targetDir = path.resolve(__dirname, '..', '..', 'target');
const modelPath =
  process.env.SIGHTLINE_TEST_MODEL || path.join(targetDir, 'sightline-test-model.slm');
const expectedPath =
  process.env.SIGHTLINE_TEST_EXPECTED || path.join(targetDir, 'sightline-test-expected.json');

/** `{ modelPath, bytes (Buffer), expected }`; throws with a how-to if missing. */
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

/** Asserts `fn` throws a real Error with `code` and a message. */
function throwsCode(fn, code) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof Error, `expected an Error, got ${err}`);
    assert.equal(err.code, code, `code (message: ${err.message})`);
    assert.ok(err.message.length > 0);
    return true;
  });
}

/** Asserts `promise` rejects with a real Error with `code`. */
async function rejectsCode(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, `expected an Error, got ${err}`);
    assert.equal(err.code, code, `code (message: ${err.message})`);
    return true;
  });
}

/** Same ids in the same order, scores within TOL. */
function assertMatches(actual, ids, scores, what) {
  assert.deepEqual(actual.map((r) => r.itemId), ids, `${what}: ids`);
  actual.forEach((r, i) => {
    assert.ok(Math.abs(r.score - scores[i]) <= TOL, `${what}: score ${i}: ${r.score} vs ${scores[i]}`);
  });
}

/** `[{ itemId, score }]` of plain objects, finite scores, best first, unique ids. */
function assertWellFormed(recs, model) {
  assert.ok(Array.isArray(recs));
  for (const r of recs) {
    assert.equal(Object.getPrototypeOf(r), Object.prototype, 'plain object');
    assert.deepEqual(Object.keys(r).sort(), ['itemId', 'score']);
    assert.equal(typeof r.itemId, 'string');
    assert.equal(typeof r.score, 'number');
    assert.ok(Number.isFinite(r.score));
  }
  for (let i = 1; i < recs.length; i++) assert.ok(recs[i - 1].score >= recs[i].score, 'sorted best first');
  assert.equal(new Set(recs.map((r) => r.itemId)).size, recs.length, 'ids unique');
  assert.ok(recs.length <= model.nItems);
}

/** The byte containers a model file may be given in: Node Buffer and plain Uint8Array. */
const BYTE_FORMS = {
  Buffer: (bytes) => Buffer.from(bytes),
  Uint8Array: (bytes) => new Uint8Array(bytes),
};

/**
 * Registers the contract tests (inside one `describe`) for a runtime.
 *
 * runtime = {
 *   name,                // 'node', 'wasm', … (suite name)
 *   Model,               // the runtime's model class (instanceof checks)
 *   fromBytes(bytes),    // loads a model from a Buffer / Uint8Array
 *   fromPath?(path),     // loads a model from a file path, if the runtime can
 *   release?(model),     // frees a model made by the contract (e.g. wasm free())
 * }
 *
 * The fixture and the models are loaded eagerly, so a missing fixture or a
 * broken loader fails the test file at once. Returns `{ fx, models, model }`
 * for runtime-only tests: `models` maps loader name → model, `model` is the
 * first of them (the path-loaded one when there is one).
 */
function registerModelContract(runtime) {
  const { name, Model, fromBytes, fromPath, release = () => {} } = runtime;
  const fx = loadFixture();
  const { users, items } = fx.expected;
  const u8 = new Uint8Array(fx.bytes.buffer, fx.bytes.byteOffset, fx.bytes.byteLength);

  const models = {};
  if (fromPath) models.fromPath = fromPath(fx.modelPath);
  models.fromBytes = fromBytes(u8);
  const all = Object.entries(models);
  const model = all[0][1];

  /** Runs `fn` on a model loaded from `bytes`, then releases it. */
  function withBytes(bytes, fn) {
    const m = fromBytes(bytes);
    try {
      return fn(m);
    } finally {
      release(m);
    }
  }

  test.describe(`${name}: model contract`, () => {
    test('every loader gives a model with sane sizes', () => {
      for (const [how, m] of all) {
        assert.ok(m instanceof Model, how);
        assert.ok(Number.isInteger(m.nUsers) && m.nUsers > 0, how);
        assert.ok(Number.isInteger(m.nItems) && m.nItems > 0, how);
        assert.ok(Number.isInteger(m.factors) && m.factors > 0, how);
      }
    });

    /** Asserts `m` has the sizes and top-10 answers of `model`. */
    function assertSameAsModel(m, how) {
      assert.equal(m.nUsers, model.nUsers, how);
      assert.equal(m.nItems, model.nItems, how);
      assert.equal(m.factors, model.factors, how);
      for (const u of users) assert.deepEqual(m.recommend(u.user, 10), model.recommend(u.user, 10), how);
      for (const it of items) assert.deepEqual(m.similarItems(it.item, 10), model.similarItems(it.item, 10), how);
    }

    if (fromPath) {
      test('fromPath and fromBytes give the same model', () => {
        assertSameAsModel(models.fromBytes, 'fromBytes');
      });
    }

    test('fromBytes accepts a Node Buffer and a plain Uint8Array alike', () => {
      for (const [form, wrap] of Object.entries(BYTE_FORMS)) {
        withBytes(wrap(u8), (m) => assertSameAsModel(m, `fromBytes(${form})`));
      }
    });

    test('sizes match the expected file', (t) => {
      const e = fx.expected;
      if (e.n_users === undefined) {
        t.skip('expected file has no n_users/n_items/factors');
        return;
      }
      for (const [how, m] of all) {
        assert.equal(m.nUsers, e.n_users, how);
        assert.equal(m.nItems, e.n_items, how);
        assert.equal(m.factors, e.factors, how);
      }
    });

    test('recommend matches the Rust reference outputs', () => {
      assert.ok(users.length > 0);
      for (const [how, m] of all) {
        for (const u of users) {
          const recs = m.recommend(u.user, 10);
          assertWellFormed(recs, m);
          assertMatches(recs, u.ids, u.scores, `${how}: recommend(${u.user})`);
          const seen = seenItems(u);
          if (seen) assert.ok(recs.every((r) => !seen.includes(r.itemId)), `${how}: ${u.user}: liked item returned`);
        }
      }
    });

    test('similarItems matches the Rust reference outputs', () => {
      assert.ok(items.length > 0);
      for (const [how, m] of all) {
        for (const it of items) {
          const sims = m.similarItems(it.item, 10);
          assertWellFormed(sims, m);
          assert.ok(!sims.some((s) => s.itemId === it.item), 'item itself not included');
          assertMatches(sims, it.ids, it.scores, `${how}: similarItems(${it.item})`);
        }
      }
    });

    test('recommend leaves out the items a user had in training', (t) => {
      const withSeen = users.filter((u) => seenItems(u));
      if (withSeen.length === 0) {
        t.skip('expected file lists no training items per user (`liked`)');
        return;
      }
      for (const [how, m] of all) {
        for (const u of withSeen) {
          const seen = new Set(seenItems(u));
          assert.ok(seen.size > 0);
          // Ask for every item: whatever is returned must exclude the user's own items.
          const recs = m.recommend(u.user, m.nItems);
          assertWellFormed(recs, m);
          for (const r of recs) assert.ok(!seen.has(r.itemId), `${how}: ${u.user} already had ${r.itemId}`);
          assert.equal(recs.length, m.nItems - seen.size);
        }
      }
    });

    test('a huge n returns at most every item and does not crash', () => {
      const recs = model.recommend(users[0].user, 1e12);
      assertWellFormed(recs, model);
      const sims = model.similarItems(items[0].item, Number.MAX_SAFE_INTEGER);
      assertWellFormed(sims, model);
      assert.equal(sims.length, model.nItems - 1);
    });

    test('unknown ids throw UNKNOWN_ID', () => {
      throwsCode(() => model.recommend('no-such-user-\u00e9', 10), 'UNKNOWN_ID');
      throwsCode(() => model.similarItems('no-such-item', 10), 'UNKNOWN_ID');
      throwsCode(() => model.recommend('', 10), 'UNKNOWN_ID');
    });

    test('n that is not a positive integer throws INVALID_INPUT', () => {
      const user = users[0].user;
      const item = items[0].item;
      for (const n of [0, -1, -0.5, 1.5, NaN, Infinity, -Infinity]) {
        throwsCode(() => model.recommend(user, n), 'INVALID_INPUT');
        throwsCode(() => model.similarItems(item, n), 'INVALID_INPUT');
      }
    });

    test('bad model bytes throw MODEL_FORMAT', () => {
      for (const wrap of Object.values(BYTE_FORMS)) {
        const bad = (bytes) => throwsCode(() => withBytes(wrap(bytes), () => {}), 'MODEL_FORMAT');
        bad(new Uint8Array(0));
        bad(new TextEncoder().encode('definitely not a sightline model'));
        for (const len of [4, 16, 64, Math.floor(u8.length / 2), u8.length - 1]) bad(u8.subarray(0, len));
        // One flipped byte in the payload must be caught (checksummed format).
        const corrupt = new Uint8Array(u8);
        corrupt[corrupt.length - 5] ^= 0xff;
        bad(corrupt);
      }
    });

    test('the model still works after errors', () => {
      const u = users[0];
      for (const [how, m] of all) assertMatches(m.recommend(u.user, 10), u.ids, u.scores, `${how}: after errors`);
      withBytes(u8, (m) => assert.equal(m.nItems, model.nItems));
    });
  });

  return { fx, models, model };
}

module.exports = {
  TOL,
  loadFixture,
  seenItems,
  throwsCode,
  rejectsCode,
  assertMatches,
  assertWellFormed,
  registerModelContract,
};
