'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');

const { Model } = require('../pkg/sightline_wasm.js');
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

function assertMatches(actual, ids, scores, what) {
  assert.deepEqual(actual.map((r) => r.itemId), ids, `${what}: ids`);
  actual.forEach((r, i) => {
    assert.ok(Math.abs(r.score - scores[i]) <= TOL, `${what}: score ${i}: ${r.score} vs ${scores[i]}`);
  });
}

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

const u8 = new Uint8Array(fx.bytes.buffer, fx.bytes.byteOffset, fx.bytes.byteLength);
const model = Model.fromBytes(u8);

test('fromBytes gives a model with sane sizes', () => {
  assert.ok(model instanceof Model);
  assert.ok(Number.isInteger(model.nUsers) && model.nUsers > 0);
  assert.ok(Number.isInteger(model.nItems) && model.nItems > 0);
  assert.ok(Number.isInteger(model.factors) && model.factors > 0);
});

test('fromBytes accepts a Node Buffer and gives identical results', () => {
  const m = Model.fromBytes(fx.bytes);
  try {
    assert.equal(m.nUsers, model.nUsers);
    for (const u of fx.expected.users) assert.deepEqual(m.recommend(u.user, 10), model.recommend(u.user, 10));
  } finally {
    m.free();
  }
});

test('sizes match the expected file', (t) => {
  const e = fx.expected;
  if (e.n_users === undefined) {
    t.skip('expected file has no n_users/n_items/factors');
    return;
  }
  assert.equal(model.nUsers, e.n_users);
  assert.equal(model.nItems, e.n_items);
  assert.equal(model.factors, e.factors);
});

test('recommend matches the Rust reference outputs', () => {
  assert.ok(fx.expected.users.length > 0);
  for (const u of fx.expected.users) {
    const recs = model.recommend(u.user, 10);
    assertWellFormed(recs, model);
    assertMatches(recs, u.ids, u.scores, `recommend(${u.user})`);
  }
});

test('similarItems matches the Rust reference outputs', () => {
  assert.ok(fx.expected.items.length > 0);
  for (const it of fx.expected.items) {
    const sims = model.similarItems(it.item, 10);
    assertWellFormed(sims, model);
    assert.ok(!sims.some((s) => s.itemId === it.item), 'item itself not included');
    assertMatches(sims, it.ids, it.scores, `similarItems(${it.item})`);
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
    const all = model.recommend(u.user, model.nItems);
    assertWellFormed(all, model);
    for (const r of all) assert.ok(!seen.has(r.itemId), `${u.user} already had ${r.itemId}`);
    assert.equal(all.length, model.nItems - seen.size);
  }
});

test('a huge n returns at most every item and does not trap', () => {
  const recs = model.recommend(fx.expected.users[0].user, 1e12);
  assertWellFormed(recs, model);
  const sims = model.similarItems(fx.expected.items[0].item, Number.MAX_SAFE_INTEGER);
  assertWellFormed(sims, model);
  assert.equal(sims.length, model.nItems - 1);
});

test('unknown ids throw UNKNOWN_ID', () => {
  throwsCode(() => model.recommend('no-such-user-\u00e9', 10), 'UNKNOWN_ID');
  throwsCode(() => model.similarItems('no-such-item', 10), 'UNKNOWN_ID');
  throwsCode(() => model.recommend('', 10), 'UNKNOWN_ID');
});

test('n that is not a positive integer throws INVALID_INPUT', () => {
  const user = fx.expected.users[0].user;
  const item = fx.expected.items[0].item;
  for (const n of [0, -1, -0.5, 1.5, NaN, Infinity, -Infinity]) {
    throwsCode(() => model.recommend(user, n), 'INVALID_INPUT');
    throwsCode(() => model.similarItems(item, n), 'INVALID_INPUT');
  }
});

test('bad model bytes throw MODEL_FORMAT', () => {
  throwsCode(() => Model.fromBytes(new Uint8Array(0)), 'MODEL_FORMAT');
  throwsCode(() => Model.fromBytes(new TextEncoder().encode('definitely not a sightline model')), 'MODEL_FORMAT');
  for (const len of [4, 16, 64, Math.floor(u8.length / 2), u8.length - 1]) {
    throwsCode(() => Model.fromBytes(u8.subarray(0, len)), 'MODEL_FORMAT');
  }
  const corrupt = new Uint8Array(u8);
  corrupt[corrupt.length - 5] ^= 0xff;
  throwsCode(() => Model.fromBytes(corrupt), 'MODEL_FORMAT');
});

test('the module still works after errors', () => {
  const u = fx.expected.users[0];
  assertMatches(model.recommend(u.user, 10), u.ids, u.scores, 'after errors');
  const m = Model.fromBytes(u8);
  assert.equal(m.nItems, model.nItems);
  m.free();
});
