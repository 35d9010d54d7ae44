'use strict';
// The shared JS model contract for the wasm-bindgen module (bytes only: no
// file system in WebAssembly), plus WASM-only tests (free()).
const test = require('node:test');
const assert = require('node:assert/strict');

const { Model } = require('../pkg/node/sightline_wasm.js');
const { registerModelContract } = require('../../../tests/cross_runtime/model_contract.js');

const { fx } = registerModelContract({
  name: 'wasm',
  Model,
  fromBytes: (bytes) => Model.fromBytes(bytes),
  release: (m) => m.free(),
});

test('free() releases a model; others keep working', () => {
  const m = Model.fromBytes(fx.bytes);
  const u = fx.expected.users[0];
  const before = m.recommend(u.user, 10);
  m.free();
  const again = Model.fromBytes(fx.bytes);
  try {
    assert.deepEqual(again.recommend(u.user, 10), before);
  } finally {
    again.free();
  }
});

test('arguments of the wrong type throw INVALID_INPUT, not a memory fault', () => {
  const m = Model.fromBytes(fx.bytes);
  try {
    const u = fx.expected.users[0].user;
    for (const [id, n] of [[42, 10], [null, 3], [u, '10'], [u, {}], [u, undefined]]) {
      assert.throws(() => m.recommend(id, n), { code: 'INVALID_INPUT' }, `recommend(${id}, ${n})`);
      assert.throws(() => m.similarItems(id, n), { code: 'INVALID_INPUT' }, `similarItems(${id}, ${n})`);
    }
    assert.equal(m.recommend(u, 3).length, 3, 'the model still works');
  } finally {
    m.free();
  }
});

test('errors carry code plus the structured fields (kind, id)', () => {
  const m = Model.fromBytes(fx.bytes);
  try {
    assert.throws(() => m.recommend('no-such-user', 5), {
      code: 'UNKNOWN_ID',
      kind: 'user',
      id: 'no-such-user',
      message: 'unknown user id "no-such-user"',
    });
    assert.throws(() => m.similarItems('no-such-item', 5), {
      code: 'UNKNOWN_ID',
      kind: 'item',
      id: 'no-such-item',
    });
  } finally {
    m.free();
  }
  assert.throws(() => Model.fromBytes(new Uint8Array([1, 2, 3])), (err) => {
    assert.ok(err instanceof Error);
    assert.equal(err.code, 'MODEL_FORMAT');
    assert.ok(!('kind' in err) && !('id' in err) && !('field' in err));
    return true;
  });
});
