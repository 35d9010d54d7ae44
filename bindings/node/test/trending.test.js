'use strict';
// Trending on the demo events: popular items are the most bought, regions
// back off, trending-now, all-or-nothing batches, files and coded errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Trending } = require('..');
const { throwsCode } = require('../../../tests/cross_runtime/model_contract.js');
const { demo } = require('./helpers.js');

const events = demo.events.slice(-6000);
const now = events[events.length - 1].timestamp;
const store = new Trending({ halfLifeHours: 24 * 365 }, demo.catalog);
store.ingestBatch(events);

test('popular ranks by weighted counts (long half-life)', () => {
  const weights = { view: 1, click: 2, add_to_cart: 4, purchase: 8 };
  const total = new Map();
  for (const e of events) total.set(e.item, (total.get(e.item) ?? 0) + weights[e.kind]);
  const best = [...total].sort((a, b) => b[1] - a[1])[0][0];
  const r = store.popular({ n: 5, now });
  assert.equal(r.level, 'global');
  assert.equal(r.items.length, 5);
  assert.equal(r.items[0].itemId, best);
  assert.ok(r.levelWeight > 0);
  assert.equal(store.params.halfLifeHours, 24 * 365);
  assert.ok(store.segments.includes('global'));
});

test('a category query stays in it; an unknown region backs off', () => {
  const r = store.popular({ n: 5, now, category: 'frames' });
  const frames = new Set(demo.catalog.filter((i) => i.category === 'frames').map((i) => i.id));
  assert.ok(r.items.every((x) => frames.has(x.itemId)));
  const far = store.popular({ n: 3, now, region: 'atlantis' });
  assert.equal(far.level, 'global');
  const t = store.trendingNow({ n: 5, now });
  assert.ok(t.items.length > 0 && t.items.every((x) => Number.isFinite(x.score)));
});

test('batches are all or nothing; files round-trip', async () => {
  const before = store.popular({ n: 5, now });
  const bad = [events[0], { ...events[1], timestamp: 'soon' }];
  assert.throws(() => store.ingestBatch(bad), (e) => e.code === 'INVALID_INPUT' && /event 1/.test(e.message));
  assert.deepEqual(store.popular({ n: 5, now }), before);
  const file = path.join(os.tmpdir(), `sightline-trending-${process.pid}.slm`);
  try {
    await store.saveAsync(file);
    assert.deepEqual((await Trending.loadAsync(file)).popular({ n: 5, now }), before);
    assert.deepEqual(Trending.load(file).popular({ n: 5, now }), before);
    assert.deepEqual(Trending.fromBuffer(store.toBuffer()).popular({ n: 5, now }), before);
  } finally {
    fs.rmSync(file, { force: true });
  }
  const one = new Trending();
  one.ingest(events[0]);
  assert.equal(one.popular({ n: 1, now }).items[0].itemId, events[0].item);
});

test('bad inputs throw coded errors', () => {
  throwsCode(() => new Trending({ halfLifeHours: -1 }), 'CONFIG');
  throwsCode(() => new Trending({ halfLifeHours: 'long' }), 'CONFIG');
  throwsCode(() => store.popular({ n: 0, now }), 'INVALID_INPUT');
  throwsCode(() => store.popular({ n: 3, now: NaN }), 'INVALID_INPUT');
  throwsCode(() => store.ingest({ user: 'u', item: 'i' }), 'INVALID_INPUT');
  throwsCode(() => Trending.fromBuffer(Buffer.from('x')), 'MODEL_FORMAT');
});
