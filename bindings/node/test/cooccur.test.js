'use strict';
// CoOccurrence on the demo shop: neighbours that share baskets, context
// recommendations, async fit, model files and coded errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { CoOccurrence } = require('..');
const { rejectsCode, throwsCode } = require('../../../tests/cross_runtime/model_contract.js');
const { demo, itemIds, all } = require('./helpers.js');

const data = all();
const model = CoOccurrence.fit(data, { maxNeighbors: 20 });

/** Users who have both items (the co-occurrence count). */
function together(a, b) {
  const csr = data.toCsr();
  const ia = itemIds.indexOf(a);
  const ib = itemIds.indexOf(b);
  let n = 0;
  for (let u = 0; u < data.nUsers; u += 1) {
    const row = csr.indices.subarray(csr.indptr[u], csr.indptr[u + 1]);
    if (row.includes(ia) && row.includes(ib)) n += 1;
  }
  return n;
}

test('neighbours share more histories than the average item pair', () => {
  assert.equal(model.nItems, itemIds.length);
  assert.deepEqual(model.params.maxNeighbors, 20);
  assert.equal(model.params.weighting.kind, 'bm25');
  const item = demo.events[0].item;
  const similar = model.similarItems(item, 5);
  assert.equal(similar.length, 5);
  assert.ok(!similar.some((r) => r.itemId === item));
  assert.ok(similar.every((r, i) => i === 0 || similar[i - 1].score >= r.score));
  const near = similar.reduce((s, r) => s + together(item, r.itemId), 0) / similar.length;
  const far = itemIds.slice(0, 40).filter((i) => i !== item).reduce((s, i) => s + together(item, i), 0) / 39;
  assert.ok(near > 1.5 * far, `neighbours share ${near} users, others ${far}`);
});

test('recommendForItems leaves out the context and exclude, weights count', () => {
  const [a, b] = [demo.events[0].item, demo.events[5].item];
  const recs = model.recommendForItems([a, b], 10);
  assert.ok(recs.length > 0 && recs.length <= 10);
  assert.ok(recs.every((r) => r.itemId !== a && r.itemId !== b && r.score > 0));
  const without = model.recommendForItems([a, b], 10, undefined, [recs[0].itemId]);
  assert.ok(!without.some((r) => r.itemId === recs[0].itemId));
  // With all weight on `a`, the list is `a`'s neighbours.
  const onlyA = model.recommendForItems([a, b], 3, [1, 0]).map((r) => r.itemId);
  const neighboursA = model.similarItems(a, 4).map((r) => r.itemId).filter((i) => i !== b);
  assert.deepEqual(onlyA, neighboursA.slice(0, onlyA.length));
});

test('fitAsync equals fit; files round-trip', async () => {
  const m = await CoOccurrence.fitAsync(data.toCsr(), { maxNeighbors: 20 });
  const item = itemIds[3];
  assert.deepEqual(m.similarItems(item, 5), model.similarItems(item, 5));
  const file = path.join(os.tmpdir(), `sightline-cooccur-${process.pid}.slm`);
  try {
    await model.saveAsync(file);
    const back = await CoOccurrence.loadAsync(file);
    assert.deepEqual(back.similarItems(item, 5), model.similarItems(item, 5));
    assert.deepEqual(CoOccurrence.load(file).nnz, model.nnz);
    assert.deepEqual(CoOccurrence.fromBuffer(model.toBuffer()).itemIds, model.itemIds);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('bad inputs throw coded errors', async () => {
  assert.throws(() => CoOccurrence.fit(data, { minSupport: 0 }), (e) => e.code === 'CONFIG' && e.field === 'min_support');
  assert.throws(() => CoOccurrence.fit(data, { weighting: { kind: 'bm25', b: 2 } }), (e) => e.code === 'CONFIG');
  await rejectsCode(CoOccurrence.fitAsync(data, { maxNeighbors: -1 }), 'CONFIG');
  throwsCode(() => model.similarItems('nope', 5), 'UNKNOWN_ID');
  throwsCode(() => model.similarItems(itemIds[0], 0), 'INVALID_INPUT');
  throwsCode(() => model.recommendForItems(['nope'], 5), 'UNKNOWN_ID');
  throwsCode(() => model.recommendForItems([itemIds[0]], 5, [NaN]), 'INVALID_INPUT');
  throwsCode(() => model.recommendForItems([itemIds[0]], 5, [1, 2]), 'SHAPE_MISMATCH');
  throwsCode(() => model.recommendForItems([], 5), 'INVALID_INPUT');
  throwsCode(() => CoOccurrence.fromBuffer(Buffer.from('nope')), 'MODEL_FORMAT');
});
