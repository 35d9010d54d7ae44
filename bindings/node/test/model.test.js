'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Model } = require('..');
const { loadFixture, seenItems } = require('./fixture.js');

const fx = loadFixture();
const TOL = 1e-5;

/** Asserts `fn` throws a real Error with `code`. */
function throwsCode(fn, code) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof Error, `expected an Error, got ${err}`);
    assert.equal(err.code, code, `code (message: ${err.message})`);
    assert.ok(err.message.length > 0);
    return true;
  });
}

async function rejectsCode(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, `expected an Error, got ${err}`);
    assert.equal(err.code, code, `code (message: ${err.message})`);
    return true;
  });
}

function assertMatches(actual, ids, scores, what) {
  assert.deepEqual(actual.map((r) => r.itemId), ids, `${what}: ids`);
  actual.forEach((r, i) => {
    assert.ok(Math.abs(r.score - scores[i]) <= TOL, `${what}: score ${i}: ${r.score} vs ${scores[i]}`);
  });
}

function assertWellFormed(recs, model) {
  assert.ok(Array.isArray(recs));
  for (const r of recs) {
    assert.deepEqual(Object.keys(r).sort(), ['itemId', 'score']);
    assert.equal(typeof r.itemId, 'string');
    assert.equal(typeof r.score, 'number');
    assert.ok(Number.isFinite(r.score));
  }
  for (let i = 1; i < recs.length; i++) assert.ok(recs[i - 1].score >= recs[i].score, 'sorted best first');
  assert.equal(new Set(recs.map((r) => r.itemId)).size, recs.length, 'ids unique');
  assert.ok(recs.length <= model.nItems);
}

const byPath = Model.load(fx.modelPath);
const byBuffer = Model.fromBuffer(fx.bytes);

test('load(path) gives a model with sane sizes', () => {
  assert.ok(byPath instanceof Model);
  assert.ok(Number.isInteger(byPath.nUsers) && byPath.nUsers > 0);
  assert.ok(Number.isInteger(byPath.nItems) && byPath.nItems > 0);
  assert.ok(Number.isInteger(byPath.factors) && byPath.factors > 0);
});

test('fromBuffer gives the same model as load(path)', () => {
  assert.equal(byBuffer.nUsers, byPath.nUsers);
  assert.equal(byBuffer.nItems, byPath.nItems);
  assert.equal(byBuffer.factors, byPath.factors);
  for (const u of fx.expected.users) {
    assert.deepEqual(byBuffer.recommend(u.user, 10), byPath.recommend(u.user, 10));
  }
  for (const it of fx.expected.items) {
    assert.deepEqual(byBuffer.similarItems(it.item, 10), byPath.similarItems(it.item, 10));
  }
});

test('fromBuffer accepts a plain Uint8Array', () => {
  const u8 = new Uint8Array(fx.bytes.buffer, fx.bytes.byteOffset, fx.bytes.byteLength);
  const m = Model.fromBuffer(u8);
  assert.equal(m.nItems, byPath.nItems);
});

test('sizes match the expected file', (t) => {
  const e = fx.expected;
  if (e.n_users === undefined) {
    t.skip('expected file has no n_users/n_items/factors');
    return;
  }
  assert.equal(byPath.nUsers, e.n_users);
  assert.equal(byPath.nItems, e.n_items);
  assert.equal(byPath.factors, e.factors);
});

test('recommend matches the Rust reference outputs', () => {
  assert.ok(fx.expected.users.length > 0);
  for (const m of [byPath, byBuffer]) {
    for (const u of fx.expected.users) {
      const recs = m.recommend(u.user, 10);
      assertWellFormed(recs, m);
      assertMatches(recs, u.ids, u.scores, `recommend(${u.user})`);
    }
  }
});

test('similarItems matches the Rust reference outputs', () => {
  assert.ok(fx.expected.items.length > 0);
  for (const m of [byPath, byBuffer]) {
    for (const it of fx.expected.items) {
      const sims = m.similarItems(it.item, 10);
      assertWellFormed(sims, m);
      assert.ok(!sims.some((s) => s.itemId === it.item), 'item itself not included');
      assertMatches(sims, it.ids, it.scores, `similarItems(${it.item})`);
    }
  }
});

test('recommend leaves out the items a user had in training', (t) => {
  const withSeen = fx.expected.users.filter((u) => seenItems(u));
  if (withSeen.length === 0) {
    t.skip('expected file lists no training items per user (`liked`)');
    return;
  }
  for (const u of withSeen) {
    const seen = new Set(seenItems(u));
    assert.ok(seen.size > 0);
    // Ask for every item: whatever is returned must exclude the user's own items.
    const all = byPath.recommend(u.user, byPath.nItems);
    assertWellFormed(all, byPath);
    for (const r of all) assert.ok(!seen.has(r.itemId), `${u.user} already had ${r.itemId}`);
    assert.equal(all.length, byPath.nItems - seen.size);
  }
});

test('a huge n returns at most every item and does not crash', () => {
  const u = fx.expected.users[0];
  const recs = byPath.recommend(u.user, 1e12);
  assertWellFormed(recs, byPath);
  const sims = byPath.similarItems(fx.expected.items[0].item, Number.MAX_SAFE_INTEGER);
  assertWellFormed(sims, byPath);
  assert.equal(sims.length, byPath.nItems - 1);
});

test('unknown ids throw UNKNOWN_ID', () => {
  throwsCode(() => byPath.recommend('no-such-user-\u00e9', 10), 'UNKNOWN_ID');
  throwsCode(() => byPath.similarItems('no-such-item', 10), 'UNKNOWN_ID');
  throwsCode(() => byPath.recommend('', 10), 'UNKNOWN_ID');
});

test('n that is not a positive integer throws INVALID_INPUT', () => {
  const user = fx.expected.users[0].user;
  const item = fx.expected.items[0].item;
  for (const n of [0, -1, -0.5, 1.5, NaN, Infinity, -Infinity]) {
    throwsCode(() => byPath.recommend(user, n), 'INVALID_INPUT');
    throwsCode(() => byPath.similarItems(item, n), 'INVALID_INPUT');
  }
});

test('bad model bytes throw MODEL_FORMAT', () => {
  throwsCode(() => Model.fromBuffer(Buffer.alloc(0)), 'MODEL_FORMAT');
  throwsCode(() => Model.fromBuffer(Buffer.from('definitely not a sightline model')), 'MODEL_FORMAT');
  const bytes = fx.bytes;
  for (const len of [4, 16, 64, Math.floor(bytes.length / 2), bytes.length - 1]) {
    throwsCode(() => Model.fromBuffer(bytes.subarray(0, len)), 'MODEL_FORMAT');
  }
  // One flipped byte in the payload must be caught (checksummed format).
  const corrupt = Buffer.from(bytes);
  corrupt[corrupt.length - 5] ^= 0xff;
  throwsCode(() => Model.fromBuffer(corrupt), 'MODEL_FORMAT');
});

test('a missing file throws IO', () => {
  const missing = path.join(os.tmpdir(), `sightline-missing-${process.pid}.slm`);
  throwsCode(() => Model.load(missing), 'IO');
});

test('the model still works after errors', () => {
  const u = fx.expected.users[0];
  assertMatches(byPath.recommend(u.user, 10), u.ids, u.scores, 'after errors');
});

test('loadAsync resolves to an equivalent model', async () => {
  const p = Model.loadAsync(fx.modelPath);
  assert.ok(p instanceof Promise);
  const m = await p;
  assert.ok(m instanceof Model);
  assert.equal(m.nUsers, byPath.nUsers);
  for (const u of fx.expected.users) {
    assertMatches(m.recommend(u.user, 10), u.ids, u.scores, `async recommend(${u.user})`);
  }
});

test('loadAsync rejects with IO / MODEL_FORMAT codes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sightline-node-'));
  try {
    await rejectsCode(Model.loadAsync(path.join(dir, 'missing.slm')), 'IO');
    const garbage = path.join(dir, 'garbage.slm');
    fs.writeFileSync(garbage, 'not a model at all');
    await rejectsCode(Model.loadAsync(garbage), 'MODEL_FORMAT');
    throwsCode(() => Model.load(garbage), 'MODEL_FORMAT');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('wrong argument types throw instead of crashing', () => {
  assert.throws(() => Model.fromBuffer('not bytes'));
  assert.throws(() => byPath.recommend(42, 10));
  assert.throws(() => byPath.recommend(fx.expected.users[0].user, '10'));
});
