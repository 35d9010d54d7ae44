'use strict';
// The storefront → page path across runtimes: the Node engine exports the
// model slice of a response's candidates (`Engine.exportSlice`), and
// sightline-wasm (the page) loads it and re-ranks those candidates with a
// visitor's session that never left the "device".
//
//   node --test tests/cross_runtime/
const assert = require('node:assert/strict');
const path = require('node:path');
const { test } = require('node:test');

const root = path.resolve(__dirname, '..', '..');
const node = require(path.join(root, 'bindings', 'node'));
const wasm = require(path.join(root, 'bindings', 'wasm'));

test('a slice exported by the Node engine re-ranks its candidates in WASM', () => {
  const { catalog, events } = node.demoData({ customers: 600, products: 300, events: 30000, seed: 3 });
  const items = catalog.map((row) => row.id);
  const als = new node.Als({ factors: 16, iterations: 5, seed: 3 }).fit(node.Interactions.fromEvents(events, { items }));
  const engine = new node.Engine(node.demoEngineConfig(), catalog, { als });
  const now = events[events.length - 1].timestamp;
  const served = engine.recommend({ placement: 'home', n: 30, now });
  const candidates = served.items.map((i) => i.item);

  const slice = wasm.ModelSlice.fromBytes(engine.exportSlice('home', candidates));
  assert.equal(slice.placement, 'home');
  assert.equal(slice.nItems, new Set(candidates).size);
  const frame = catalog.find((row) => row.category === 'frames' && candidates.includes(row.id));
  const sessionEvents = [{ itemId: frame.id, kind: 'view', timestamp: now }];
  const reranked = slice.rerank(candidates, { sessionEvents, n: 10, now });
  assert.ok(reranked.length > 0 && reranked.length <= 10);
  for (const r of reranked) {
    assert.ok(candidates.includes(r.itemId), `${r.itemId} is one of the candidates`);
    assert.notEqual(r.itemId, frame.id, 'the item just viewed is not recommended back');
  }
  slice.free();

  assert.throws(() => engine.exportSlice('nowhere', candidates), { code: 'INVALID_INPUT' });
  assert.throws(() => engine.exportSlice('home', ['no-such-item']), { code: 'UNKNOWN_ID' });
});
