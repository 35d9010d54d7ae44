'use strict';
// Interactions from event objects and columns: the core's weights, summing
// and id order, CSR round trips and coded errors naming the event.
const test = require('node:test');
const assert = require('node:assert/strict');

const { Interactions } = require('..');
const { throwsCode } = require('../../../tests/cross_runtime/model_contract.js');
const { demo, itemIds, all } = require('./helpers.js');

const events = [
  { user: 'ann', item: 'a', kind: 'view', timestamp: 10 },
  { user: 'ann', item: 'a', kind: 'purchase', timestamp: 20 },
  { user: 'bob', item: 'b', kind: 'click', timestamp: 30 },
  { user: 'ann', item: 'c', kind: 'add_to_cart', timestamp: 40 },
];

test('events add up with the default kind weights, ids in order of appearance', () => {
  const m = Interactions.fromEvents(events);
  assert.deepEqual([m.nUsers, m.nItems, m.nnz], [2, 3, 3]);
  assert.deepEqual(m.userIds, ['ann', 'bob']);
  assert.deepEqual(m.itemIds, ['a', 'b', 'c']);
  const csr = m.toCsr();
  assert.ok(csr.indptr instanceof Uint32Array && csr.indices instanceof Uint32Array);
  assert.ok(csr.data instanceof Float32Array);
  assert.deepEqual([...csr.indptr], [0, 2, 3]);
  assert.deepEqual([...csr.indices], [0, 2, 1]);
  assert.deepEqual([...csr.data], [1 + 8, 4, 2]);
  assert.deepEqual(csr.shape, [2, 3]);
  // The latest time of each entry, in CSR order; none without timestamps.
  assert.deepEqual([...m.lastSeen], [20, 40, 30]);
  assert.equal(Interactions.fromEvents([{ user: 'u', item: 'i' }]).lastSeen, null);
});

test('kind weights, quantities and fixed items', () => {
  const m = Interactions.fromEvents(
    [
      { user: 'u', item: 'b', kind: 'wishlist', quantity: 3 },
      { user: 'u', item: 'a', kind: 'view', weight: 0.5 },
    ],
    { kindWeights: { wishlist: 2, view: 1 }, items: ['a', 'b', 'z'] },
  );
  assert.deepEqual(m.itemIds, ['a', 'b', 'z']);
  assert.deepEqual([...m.toCsr().data], [0.5, 6]);
});

test('columns build the same matrix as records', () => {
  const cols = {
    users: events.map((e) => e.user),
    items: events.map((e) => e.item),
    kinds: events.map((e) => e.kind),
    timestamps: events.map((e) => e.timestamp),
  };
  assert.deepEqual(Interactions.fromColumns(cols).toCsr(), Interactions.fromEvents(events).toCsr());
  throwsCode(() => Interactions.fromColumns({ ...cols, kinds: ['view'] }), 'SHAPE_MISMATCH');
});

test('toCsr / fromCsr round-trip the demo matrix', () => {
  const m = all();
  assert.equal(m.nItems, itemIds.length);
  assert.ok(m.nUsers > 500 && m.nnz > 3000, `${m.nUsers} users, ${m.nnz} entries`);
  const back = Interactions.fromCsr(m.toCsr());
  assert.deepEqual(back.toCsr(), m.toCsr());
  // The demo events sum to the kind-weighted counts.
  const weights = { view: 1, click: 2, add_to_cart: 4, purchase: 8 };
  const total = demo.events.reduce((s, e) => s + weights[e.kind], 0);
  const sum = m.toCsr().data.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(sum - total) < 1e-3 * total, `${sum} vs ${total}`);
});

test('bad events throw coded errors naming the event', () => {
  const bad = (e, code, text) =>
    assert.throws(
      () => Interactions.fromEvents([events[0], e]),
      (err) => err instanceof Error && err.code === code && err.message.includes(text),
      `${JSON.stringify(e)} → ${code} "${text}"`,
    );
  bad({ user: 'x', item: 'a', kind: 'view', timestamp: 1, weight: -1 }, 'INVALID_INPUT', 'event 1');
  bad({ user: '', item: 'a', kind: 'view', timestamp: 1 }, 'INVALID_INPUT', 'event 1');
  bad({ user: 'x', item: 'a', kind: 'teleport', timestamp: 1 }, 'INVALID_INPUT', 'teleport');
  bad({ user: 'x', item: 'a', timestamp: 1 }, 'INVALID_INPUT', 'event 1: kind');
  bad({ user: 'x', item: 'a', kind: 'view', timestamp: 1, wieght: 2 }, 'INVALID_INPUT', 'wieght');
  bad({ user: 'x', item: 'a', kind: 'view', timestamp: 1.5 }, 'INVALID_INPUT', 'event 1');
  throwsCode(() => Interactions.fromEvents([{ user: 'x', item: 'a', weight: NaN }]), 'INVALID_INPUT');
  throwsCode(() => Interactions.fromEvents([{ user: 'x', item: 'q' }], { items: ['a'] }), 'UNKNOWN_ID');
  throwsCode(() => Interactions.fromEvents([]), 'INVALID_INPUT');
  throwsCode(() => Interactions.fromEvents('nope'), 'INVALID_INPUT');
  throwsCode(() => Interactions.fromEvents(events, { kindWeights: { view: -2 } }), 'CONFIG');
});

test('bad CSR arrays throw coded errors', () => {
  const csr = Interactions.fromEvents(events).toCsr();
  throwsCode(() => Interactions.fromCsr({ ...csr, shape: [2] }), 'SHAPE_MISMATCH');
  throwsCode(() => Interactions.fromCsr({ ...csr, indices: new Uint32Array([0, 9, 1]) }), 'INVALID_INPUT');
  throwsCode(() => Interactions.fromCsr({ ...csr, data: new Float32Array(1) }), 'SHAPE_MISMATCH');
  throwsCode(() => Interactions.fromCsr({ ...csr, userIds: ['only-one'] }), 'SHAPE_MISMATCH');
});
