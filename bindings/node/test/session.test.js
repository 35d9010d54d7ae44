'use strict';
// SessionStore: recent events and decayed context per visitor, merge on
// login, forget, expire, stats, files and coded errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { SessionStore } = require('..');
const { throwsCode } = require('../../../tests/cross_runtime/model_contract.js');
const { itemIds } = require('./helpers.js');

const T = 1767225600;
const ev = (user, item, kind, dt) => ({ user, item, kind, timestamp: T + dt });

function fresh() {
  const s = new SessionStore(itemIds, { ttlSeconds: 1800 });
  s.ingestBatch([
    ev('anon-1', itemIds[0], 'view', 0),
    ev('anon-1', itemIds[1], 'add_to_cart', 10),
    ev('anon-1', itemIds[0], 'view', 20),
    ev('cust-1', itemIds[2], 'purchase', 5),
  ]);
  return s;
}

test('recent is newest first; context weighs kinds and recency', () => {
  const s = fresh();
  assert.equal(s.size, 2);
  assert.deepEqual(s.recent('anon-1', T + 30).map((e) => [e.itemId, e.kind]), [
    [itemIds[0], 'view'],
    [itemIds[1], 'add_to_cart'],
    [itemIds[0], 'view'],
  ]);
  const ctx = s.context('anon-1', T + 30);
  // add_to_cart (4) outweighs two views (1 + 1).
  assert.deepEqual(ctx.map((c) => c.itemId), [itemIds[1], itemIds[0]]);
  assert.ok(ctx[0].score > ctx[1].score && ctx[1].score > 1.5);
  assert.deepEqual(s.recent('nobody', T), []);
  assert.equal(s.params.ttlSeconds, 1800);
});

test('merge, forget, export, expire and stats', () => {
  const s = fresh();
  assert.equal(s.merge('anon-1', 'cust-1', T + 30), 3);
  assert.deepEqual(s.recent('anon-1', T + 30), []);
  assert.equal(s.recent('cust-1', T + 30).length, 4);
  assert.equal(s.export('cust-1').length, 4);
  assert.equal(s.forget('cust-1'), true);
  assert.equal(s.forget('cust-1'), false);
  assert.deepEqual(s.export('cust-1'), []);
  const t = fresh();
  assert.equal(t.ingest(ev('late', itemIds[3], 'view', 5000)), true);
  assert.equal(t.ingest(ev('late', 'not-in-catalog', 'view', 5001)), false);
  assert.equal(t.expire(T + 5000), 2);
  const stats = t.stats();
  assert.equal(stats.keys, 1);
  assert.equal(stats.unknownItems, 1);
  assert.ok(stats.expirations >= 2);
});

test('files round-trip; bad inputs throw coded errors and change nothing', async () => {
  const s = fresh();
  const file = path.join(os.tmpdir(), `sightline-session-${process.pid}.slm`);
  try {
    await s.saveAsync(file);
    assert.deepEqual((await SessionStore.loadAsync(file)).recent('anon-1', T + 30), s.recent('anon-1', T + 30));
    s.save(file);
    assert.equal(SessionStore.load(file).size, 2);
    assert.deepEqual(SessionStore.fromBuffer(s.toBuffer()).context('anon-1', T + 30), s.context('anon-1', T + 30));
  } finally {
    fs.rmSync(file, { force: true });
  }
  const before = s.recent('anon-1', T + 30);
  throwsCode(() => s.ingestBatch([ev('anon-1', itemIds[4], 'view', 25), { user: 'x' }]), 'INVALID_INPUT');
  throwsCode(() => s.ingest(ev('', itemIds[0], 'view', 1)), 'INVALID_INPUT');
  throwsCode(() => s.recent('anon-1', NaN), 'INVALID_INPUT');
  throwsCode(() => s.merge('anon-1', 'anon-1', T), 'INVALID_INPUT');
  throwsCode(() => new SessionStore(itemIds, { ttlSeconds: -5 }), 'CONFIG');
  throwsCode(() => new SessionStore(['a', 'a']), 'INVALID_INPUT');
  throwsCode(() => SessionStore.fromBuffer(Buffer.from('x')), 'MODEL_FORMAT');
  assert.deepEqual(s.recent('anon-1', T + 30), before);
});
