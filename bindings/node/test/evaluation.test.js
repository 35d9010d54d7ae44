'use strict';
// Splits, ranking metrics and tuning on the demo shop: ALS beats a random
// ranking by far, splits are disjoint and seeded, async twins agree.
const test = require('node:test');
const assert = require('node:assert/strict');

const ev = require('..');
const { Als, Interactions } = ev;
const { rejectsCode, throwsCode } = require('../../../tests/cross_runtime/model_contract.js');
const { all } = require('./helpers.js');

const data = all();
const { train, test: held } = ev.trainTestSplit(data, { trainPercentage: 0.8, seed: 1 });
const model = new Als({ factors: 16, iterations: 8, numThreads: 1, seed: 1 }).fit(train);

test('splits are disjoint, complete and seeded', () => {
  assert.equal(train.nnz + held.nnz, data.nnz);
  assert.ok(Math.abs(held.nnz / data.nnz - 0.2) < 0.02, `${held.nnz} / ${data.nnz}`);
  assert.deepEqual(train.userIds, data.userIds);
  const again = ev.trainTestSplit(data, { trainPercentage: 0.8, seed: 1 });
  assert.deepEqual(again.test.toCsr(), held.toCsr());
  assert.notDeepEqual(ev.trainTestSplit(data, { seed: 2 }).test.toCsr().indices, held.toCsr().indices);
  const k2 = ev.leaveKOutSplit(data, { K: 2, seed: 3 });
  assert.equal(k2.train.nnz + k2.test.nnz, data.nnz);
  const last = ev.leaveLastKOutSplit(data, { K: 1 });
  assert.ok(last.test.nnz > 0 && last.test.nnz <= data.nUsers);
});

test('ALS ranks held-out items far above a random ranking', async () => {
  const m = ev.rankingMetricsAtK(model, train, held, { K: 10 });
  assert.deepEqual(Object.keys(m).sort(), ['coverage', 'hitRate', 'k', 'map', 'ndcg', 'precision', 'recall', 'users']);
  assert.equal(m.k, 10);
  // A random model: same shape, random factors from zero iterations.
  const random = new Als({ factors: 16, iterations: 1, numThreads: 1, initStd: 1, regularization: 1e4 }).fit(train);
  const r = ev.rankingMetricsAtK(random, train, held, { K: 10 });
  assert.ok(m.ndcg > 2 * r.ndcg && m.precision > 2 * r.precision, `als ${JSON.stringify(m)} random ${JSON.stringify(r)}`);
  assert.deepEqual(await ev.rankingMetricsAtKAsync(model, train, held, { K: 10 }), m);
});

test('tuneAlsAsync tries the grid and returns the best by the metric', async () => {
  const result = await ev.tuneAlsAsync(train, held, {
    base: { iterations: 4, numThreads: 1 },
    space: { factors: [4, 16] },
    metric: 'ndcg',
    K: 10,
  });
  assert.equal(result.trials.length, 2);
  assert.deepEqual(result.trials.map((t) => t.config.factors), [4, 16]);
  const best = Math.max(...result.trials.map((t) => t.metrics.ndcg));
  assert.equal(result.bestMetrics.ndcg, best);
  assert.equal(result.best.iterations, 4);
});

test('bad inputs throw coded errors', async () => {
  throwsCode(() => ev.trainTestSplit(data, { trainPercentage: 1.5 }), 'INVALID_INPUT');
  throwsCode(() => ev.trainTestSplit(data, { seed: -1 }), 'INVALID_INPUT');
  throwsCode(() => ev.leaveKOutSplit(data, { K: 0 }), 'INVALID_INPUT');
  throwsCode(() => ev.rankingMetricsAtK(model, train, held, { K: 2.5 }), 'INVALID_INPUT');
  const untimed = Interactions.fromEvents([{ user: 'a', item: 'x' }, { user: 'b', item: 'y' }]);
  throwsCode(() => ev.leaveLastKOutSplit(untimed), 'INVALID_INPUT');
  const other = Interactions.fromEvents([{ user: 'a', item: 'x' }]);
  assert.throws(() => ev.rankingMetricsAtK(model, train, other));
  await rejectsCode(ev.tuneAlsAsync(train, held, { metric: 'vibes' }), 'CONFIG');
  await rejectsCode(ev.tuneAlsAsync(train, held, { space: { factors: [] } }), 'CONFIG');
  assert.throws(() => ev.rankingMetricsAtK('model', train, held));
});
