'use strict';
// Als on the demo shop: fit (sync, async, from CSR), quality against a
// random baseline, similar items and users, factors, model files shared
// with every runtime, and coded errors that change nothing.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Als, Model, Interactions } = require('..');
const { loadFixture, rejectsCode, throwsCode } = require('../../../tests/cross_runtime/model_contract.js');
const { demo, frames, itemIds, all, loopLag } = require('./helpers.js');

const params = { factors: 16, iterations: 8, seed: 3, numThreads: 1 };
const data = all();
const model = new Als(params).fit(data);
const tmp = (name) => path.join(os.tmpdir(), `sightline-als-${process.pid}-${name}`);

test('params: defaults filled in, camelCase, checked by the core', () => {
  const p = new Als(params).params;
  assert.equal(p.factors, 16);
  assert.equal(p.regularizationExponent, 0.5);
  assert.deepEqual(p.solver, { type: 'cg', steps: 3 });
  assert.deepEqual(model.params, p);
  assert.equal(new Als().params.factors, 64);
  assert.deepEqual(new Als({ solver: { type: 'cholesky' } }).params.solver, { type: 'cholesky' });
  for (const [bad, field] of [
    [{ factors: 0 }, 'factors'],
    [{ regularization: -1 }, 'regularization'],
    [{ factors: 'many' }, 'factors'],
    [{ iterations: 2.5 }, 'iterations'],
    [{ solver: { type: 'magic' } }, 'solver'],
  ]) {
    assert.throws(
      () => new Als(bad),
      (e) => e.code === 'CONFIG' && e.field.startsWith(field),
      JSON.stringify(bad),
    );
  }
});

test('the fitted model ranks held-out purchases far above random', () => {
  // Hold out each user's last purchased item that is not bought earlier.
  const heldOut = new Map();
  const train = [];
  const lastPurchase = new Map();
  demo.events.forEach((e, i) => e.kind === 'purchase' && lastPurchase.set(e.user, i));
  for (const [user, i] of lastPurchase) heldOut.set(user, demo.events[i].item);
  for (const e of demo.events) {
    if (heldOut.get(e.user) !== e.item) train.push(e);
  }
  const m = new Als(params).fit(Interactions.fromEvents(train, { items: itemIds }));
  let hits = 0;
  let users = 0;
  for (const [user, item] of heldOut) {
    if (!m.userIds.includes(user)) continue;
    users += 1;
    if (m.recommend(user, 10).some((r) => r.itemId === item)) hits += 1;
  }
  const hitRate = hits / users;
  // A random top-10 of 150 items hits about 10 / 150 = 0.067.
  assert.ok(users > 200, `${users} users`);
  assert.ok(hitRate > 3 * (10 / itemIds.length), `hit rate ${hitRate}`);
});

test('recommend: well-formed, leaves out liked items, honours options', () => {
  const user = data.userIds[0];
  const liked = new Set(data.toCsr().indices.slice(0, data.toCsr().indptr[1]).map((i) => itemIds[i]));
  const recs = model.recommend(user, 10);
  assert.equal(recs.length, 10);
  assert.ok(recs.every((r) => typeof r.itemId === 'string' && Number.isFinite(r.score)));
  assert.ok(recs.every((r, i) => i === 0 || recs[i - 1].score >= r.score));
  assert.ok(recs.every((r) => !liked.has(r.itemId)));
  const withLiked = model.recommend(user, itemIds.length, { filterLiked: false });
  assert.equal(withLiked.length, itemIds.length);
  const only = [...frames].slice(0, 5);
  const restricted = model.recommend(user, 10, { items: only, filterLiked: false });
  assert.deepEqual(new Set(restricted.map((r) => r.itemId)), new Set(only));
  const excluded = model.recommend(user, 5, { exclude: [recs[0].itemId] });
  assert.deepEqual(excluded.map((r) => r.itemId), recs.slice(1, 6).map((r) => r.itemId));
  const batch = model.recommendBatch(data.userIds.slice(0, 3), 10);
  batch.forEach((list, i) => {
    const single = model.recommend(data.userIds[i], 10);
    assert.deepEqual(list.map((r) => r.itemId), single.map((r) => r.itemId));
  });
});

test('similar items of a frame are mostly frames; similar users leave the user out', () => {
  const frame = [...frames][0];
  const similar = model.similarItems(frame, 10);
  assert.equal(similar.length, 10);
  assert.ok(!similar.some((r) => r.itemId === frame));
  const share = similar.filter((r) => frames.has(r.itemId)).length / 10;
  const base = frames.size / itemIds.length;
  assert.ok(share > base, `frame share ${share} vs catalog ${base}`);
  const user = data.userIds[5];
  const users = model.similarUsers(user, 5);
  assert.equal(users.length, 5);
  assert.ok(users.every((u) => typeof u.userId === 'string' && u.userId !== user));
});

test('factors are row-major Float32Arrays matching the ids', () => {
  assert.equal(model.factors, 16);
  assert.equal(model.userFactors.length, model.nUsers * 16);
  assert.equal(model.itemFactors.length, model.nItems * 16);
  assert.deepEqual(model.itemIds, itemIds);
  // A score is the dot product of the user's and the item's rows.
  const u = model.userIds.indexOf(data.userIds[0]);
  const top = model.recommend(data.userIds[0], 1)[0];
  const i = itemIds.indexOf(top.itemId);
  const uf = model.userFactors.subarray(u * 16, u * 16 + 16);
  const vf = model.itemFactors.subarray(i * 16, i * 16 + 16);
  const dot = uf.reduce((s, x, k) => s + x * vf[k], 0);
  assert.ok(Math.abs(dot - top.score) < 1e-4, `${dot} vs ${top.score}`);
});

test('fitAsync equals fit with the same seed and keeps the event loop running', async () => {
  const big = { ...params, factors: 48, iterations: 15 };
  const { value: m, ticks } = await loopLag(new Als(big).fitAsync(data));
  assert.ok(m instanceof Model);
  // A fit on the loop's thread would settle before the first setImmediate
  // tick (one tick); off it, the chain turns while the fit runs. Counting
  // turns instead of timer ticks holds however fast the fit is.
  assert.ok(ticks >= 2, `the fit settled within ${ticks} loop turn(s)`);
  const sync = new Als(big).fit(data);
  assert.deepEqual(m.itemFactors, sync.itemFactors);
  // CSR arrays fit the same model as the Interactions they came from.
  const fromCsr = await new Als(params).fitAsync(data.toCsr());
  assert.deepEqual(fromCsr.userFactors, model.userFactors);
  assert.deepEqual(fromCsr.userIds, model.userIds);
});

test('model files: save/load, async, buffers, the cross-runtime fixture', async () => {
  const file = tmp('m.slm');
  try {
    model.save(file);
    const back = Model.load(file);
    assert.deepEqual(back.recommend(data.userIds[1], 5), model.recommend(data.userIds[1], 5));
    await model.saveAsync(file);
    const again = await Model.loadAsync(file);
    assert.deepEqual(again.itemFactors, model.itemFactors);
    assert.deepEqual(Model.fromBuffer(model.toBuffer()).userFactors, model.userFactors);
    assert.deepEqual(fs.readFileSync(file), model.toBuffer());
  } finally {
    fs.rmSync(file, { force: true });
  }
  // The file Rust wrote (and Python reads) gives Rust's answers here.
  const fx = loadFixture();
  const rust = await Model.loadAsync(fx.modelPath);
  const u = fx.expected.users[0];
  assert.deepEqual(rust.recommend(u.user, u.ids.length).map((r) => r.itemId), u.ids);
  await rejectsCode(model.saveAsync(path.join(tmp('no-such-dir'), 'm.slm')), 'IO');
});

test('bad inputs throw coded errors and change nothing', async () => {
  const before = model.recommend(data.userIds[0], 5);
  throwsCode(() => model.recommend('nobody', 5), 'UNKNOWN_ID');
  throwsCode(() => model.recommend(data.userIds[0], -1), 'INVALID_INPUT');
  throwsCode(() => model.recommend(data.userIds[0], NaN), 'INVALID_INPUT');
  throwsCode(() => model.recommend(data.userIds[0], 5, { items: ['nope'] }), 'UNKNOWN_ID');
  throwsCode(() => model.recommendBatch([data.userIds[0], 'nobody'], 5), 'UNKNOWN_ID');
  throwsCode(() => model.similarItems('nope', 5), 'UNKNOWN_ID');
  throwsCode(() => model.similarUsers('nobody', 5), 'UNKNOWN_ID');
  throwsCode(() => Model.fromBuffer(Buffer.from('garbage')), 'MODEL_FORMAT');
  const bytes = model.toBuffer();
  throwsCode(() => Model.fromBuffer(bytes.subarray(0, bytes.length - 9)), 'MODEL_FORMAT');
  assert.throws(() => new Als(params).fit('events'));
  throwsCode(() => new Als(params).fit({ ...data.toCsr(), shape: [1, 2] }), 'SHAPE_MISMATCH');
  await rejectsCode(new Als(params).fitAsync({ ...data.toCsr(), indptr: new Uint32Array([0, 1]) }), 'SHAPE_MISMATCH');
  assert.deepEqual(model.recommend(data.userIds[0], 5), before);
});

test('partialFitUsers: a walk-in customer on a copy; explain splits a score over liked items', () => {
  const liked = [...frames].slice(0, 4);
  const walkIn = Interactions.fromEvents(liked.map((item) => ({ user: 'walk-in', item, kind: 'click' })));
  const copy = model.partialFitUsers(walkIn);
  assert.equal(copy.nUsers, model.nUsers + 1);
  assert.throws(() => model.recommend('walk-in', 5), { code: 'UNKNOWN_ID' }, 'the original is unchanged');
  const recs = copy.recommend('walk-in', 10);
  assert.equal(recs.length, 10);
  assert.ok(recs.every((r) => !liked.includes(r.itemId)), 'liked items left out');

  const e = copy.explain('walk-in', recs[0].itemId, 10);
  assert.deepEqual(e.contributions.map((c) => c.itemId).sort(), [...liked].sort());
  const total = e.contributions.reduce((sum, c) => sum + c.score, 0);
  assert.ok(Math.abs(total - e.score) < 1e-3 * Math.max(1, Math.abs(e.score)));
  assert.ok(Math.abs(e.score - recs[0].score) < 1e-3 * Math.max(1, Math.abs(e.score)), 'the score recommend gave');

  const unknown = Interactions.fromEvents([{ user: 'walk-in-2', item: 'no-such-item' }]);
  throwsCode(() => copy.partialFitUsers(unknown), 'UNKNOWN_ID');
  assert.equal(copy.nUsers, model.nUsers + 1);
  throwsCode(() => copy.explain('nobody', recs[0].itemId, 5), 'UNKNOWN_ID');
  throwsCode(() => copy.explain('walk-in', recs[0].itemId, -1), 'INVALID_INPUT');
});
