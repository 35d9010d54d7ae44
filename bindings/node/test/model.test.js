'use strict';
// The shared JS model contract for the napi-rs addon, plus Node-only tests
// (file paths, loadAsync, napi argument checks).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Model } = require('..');
const {
  assertMatches,
  registerModelContract,
  rejectsCode,
  throwsCode,
} = require('../../../tests/cross_runtime/model_contract.js');

const { fx, model } = registerModelContract({
  name: 'node',
  Model,
  fromPath: (p) => Model.load(p),
  fromBytes: (bytes) => Model.fromBuffer(bytes),
});

test('a missing file throws IO', () => {
  const missing = path.join(os.tmpdir(), `sightline-missing-${process.pid}.slm`);
  throwsCode(() => Model.load(missing), 'IO');
});

test('loadAsync resolves to an equivalent model', async () => {
  const p = Model.loadAsync(fx.modelPath);
  assert.ok(p instanceof Promise);
  const m = await p;
  assert.ok(m instanceof Model);
  assert.equal(m.nUsers, model.nUsers);
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
  assert.throws(() => model.recommend(42, 10));
  assert.throws(() => model.recommend(fx.expected.users[0].user, '10'));
});

test('an unknown id carries code, kind and id on the thrown Error', () => {
  const err = (() => {
    try {
      model.recommend('no-such-user', 5);
    } catch (e) {
      return e;
    }
    return null;
  })();
  assert.ok(err instanceof Error);
  assert.equal(err.code, 'UNKNOWN_ID');
  assert.equal(err.kind, 'user');
  assert.equal(err.id, 'no-such-user');
  assert.equal(err.message, 'unknown user id "no-such-user"');
  assert.throws(() => model.similarItems('no-such-item', 5), {
    code: 'UNKNOWN_ID',
    kind: 'item',
    id: 'no-such-item',
  });
});

test('a format error carries its code and no id fields; async errors carry fields too', async () => {
  assert.throws(() => Model.fromBuffer(Buffer.from('not a model')), (err) => {
    assert.ok(err instanceof Error);
    assert.equal(err.code, 'MODEL_FORMAT');
    assert.ok(!('kind' in err) && !('id' in err) && !('field' in err));
    return true;
  });
  assert.throws(() => model.recommend(fx.expected.users[0].user, 1.5), {
    code: 'INVALID_INPUT',
    message: 'invalid input: n must be a positive integer, got 1.5',
  });
  const missing = path.join(os.tmpdir(), `sightline-missing-${process.pid}.slm`);
  await assert.rejects(Model.loadAsync(missing), { code: 'IO' });
});
