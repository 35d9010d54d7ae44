'use strict';
// ContentIndex on the demo catalog: attribute neighbours, vector search,
// filters, cold start, ALS factors, async build, files and coded errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Als, ContentIndex } = require('..');
const { rejectsCode, throwsCode } = require('../../../tests/cross_runtime/model_contract.js');
const { demo, frames, itemIds, all } = require('./helpers.js');

const index = ContentIndex.build({ catalog: demo.catalog });
const byId = new Map(demo.catalog.map((i) => [i.id, i]));
const frame = [...frames][0];

test('similar items of a frame are frames sharing its attributes', () => {
  assert.deepEqual(index.itemIds, itemIds);
  assert.equal(index.isHnsw, false);
  const similar = index.similarItems(frame, 5);
  assert.equal(similar.length, 5);
  assert.ok(similar.every((r) => frames.has(r.itemId) && r.itemId !== frame), JSON.stringify(similar));
  const shared = (id) => ['shape', 'material', 'brand', 'gender'].filter((a) => byId.get(id)[a] === byId.get(frame)[a]).length;
  const others = [...frames].filter((f) => f !== frame);
  const mean = others.reduce((s, f) => s + shared(f), 0) / others.length;
  assert.ok(shared(similar[0].itemId) > mean, `${shared(similar[0].itemId)} vs ${mean}`);
});

test('filters restrict the results', () => {
  const lenses = demo.catalog.filter((i) => i.category !== 'frames').map((i) => i.category);
  const other = lenses[0];
  const recs = index.similarItems(frame, 5, { categories: [other] });
  assert.ok(recs.length > 0 && recs.every((r) => byId.get(r.itemId).category === other));
  const stocked = index.similarItems(frame, 20, { inStock: true });
  assert.ok(stocked.every((r) => byId.get(r.itemId).in_stock));
});

test('vector search and cold start find the item itself first', () => {
  const vectors = new Float32Array(itemIds.length * 3);
  itemIds.forEach((_, i) => vectors.set([Math.cos(i), Math.sin(i), i / itemIds.length], i * 3));
  const byVector = ContentIndex.build({ vectors: { itemIds, vectors, dim: 3 } });
  assert.equal(byVector.dim, 3);
  const hit = byVector.search(vectors.subarray(21, 24), 1);
  assert.equal(hit[0].itemId, itemIds[7]);
  throwsCode(() => byVector.search(new Float32Array(2), 1), 'SHAPE_MISMATCH');
  // A new product just like an existing frame lands next to it.
  const twin = { ...byId.get(frame), id: 'NEW-1' };
  assert.equal(index.similarToItem(twin, 1)[0].itemId, frame);
});

test('buildAsync with ALS factors equals build; files round-trip', async () => {
  const als = new Als({ factors: 8, iterations: 4, numThreads: 1 }).fit(all());
  const sources = { catalog: demo.catalog, als };
  const [sync, async_] = [ContentIndex.build(sources), await ContentIndex.buildAsync(sources)];
  assert.deepEqual(async_.similarItems(frame, 5), sync.similarItems(frame, 5));
  assert.ok(sync.dim > index.dim);
  const file = path.join(os.tmpdir(), `sightline-content-${process.pid}.slm`);
  try {
    await sync.saveAsync(file);
    assert.deepEqual((await ContentIndex.loadAsync(file)).similarItems(frame, 5), sync.similarItems(frame, 5));
    assert.deepEqual(ContentIndex.load(file).itemIds, sync.itemIds);
    assert.deepEqual(ContentIndex.fromBuffer(sync.toBuffer()).dim, sync.dim);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('bad inputs throw coded errors', async () => {
  throwsCode(() => ContentIndex.build({}), 'INVALID_INPUT');
  throwsCode(() => ContentIndex.build({ catalog: demo.catalog }, { attributeWeight: -1 }), 'CONFIG');
  await rejectsCode(ContentIndex.buildAsync({ catalog: 'nope' }), 'INVALID_INPUT');
  throwsCode(() => ContentIndex.build({ als: 'nope' }), 'INVALID_INPUT');
  throwsCode(() => index.similarItems('nope', 3), 'UNKNOWN_ID');
  throwsCode(() => index.similarItems(frame, -3), 'INVALID_INPUT');
  throwsCode(() => index.search(new Float32Array(index.dim).fill(NaN), 3), 'INVALID_INPUT');
  throwsCode(() => ContentIndex.fromBuffer(Buffer.alloc(10)), 'MODEL_FORMAT');
});
