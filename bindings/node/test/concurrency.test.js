'use strict';
// The addon under concurrent load: hundreds of async calls on the libuv pool
// (recommendAsync, reloadModelsAsync, saveAsync, fitAsync, loadAsync) while
// the event loop swaps models, ingests and answers synchronously. Every
// answer of a probe (a placement served by ALS alone) must be model A's or
// model B's, never a mix; nothing rejects but the deliberate bad calls; and
// the loop stays responsive while a fit runs on the pool.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Als, Engine, Interactions, demoData, demoEngineConfig } = require('..');
const { rejectsCode } = require('../../../tests/cross_runtime/model_contract.js');
const { loopLag } = require('./helpers.js');

/** Swaps (alternating reloadModelsAsync and swapModels between A and B). */
const SWAPS = 100;
/** Concurrent recommendAsync probes per swap. */
const ASYNC_PER_SWAP = 4;
/** recommendAsync probes fired at once before the swaps start. */
const BURST = 300;
/** Events in each ingestBatch. */
const BATCH = 20;
/** A blocked event loop shows as a lag far above this (a hang bound, not a speed). */
const MAX_LAG_MS = 200;

const demo = demoData({ customers: 800, products: 200, events: 30000, seed: 18 });
const itemIds = demo.catalog.map((i) => i.id);
const data = Interactions.fromEvents(demo.events, { items: itemIds });
const NOW = demo.events[demo.events.length - 1].timestamp;
const config = demoEngineConfig();
// Answered by ALS alone with budgets no load overruns: a function of the
// served ALS model only.
config.placements.probe = {
  n: 10,
  sources: [{ source: 'als', budget_ms: 60000 }],
  fallback: [],
  promotions: false,
  diversity: { lambda: 0 },
  deadline_ms: 60000,
};
config.breaker = { slow_call_ms: 60000 };

const tmp = (name) => path.join(os.tmpdir(), `sightline-concurrency-${process.pid}-${name}`);
const probe = (user) => ({ placement: 'probe', user, consent: true, now: NOW });
/** What must not tear: the items with their scores. */
const answer = (r) => JSON.stringify(r.items.map((i) => [i.item, i.score]));
const customers = demo.customers.map((c) => c.id);
const probeUsers = customers.slice(0, 200);
const ingestUsers = customers.slice(400);

/** `n` seeded pseudo-random events of non-probe visitors (known and anonymous). */
function events(seed, n) {
  let s = seed >>> 0;
  const next = (k) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % k;
  };
  const kinds = ['view', 'view', 'view', 'click', 'add_to_cart', 'purchase'];
  return Array.from({ length: n }, () => ({
    user: next(2) ? ingestUsers[next(ingestUsers.length)] : `anon-${next(100)}`,
    item: itemIds[next(itemIds.length)],
    kind: kinds[next(kinds.length)],
    timestamp: NOW - next(86400),
    region: 'uk-london',
  }));
}

/** `sightline_events_total` by kind, from `stats().metrics`. */
function eventCounts(engine) {
  const fam = engine.stats().metrics.sightline_events_total;
  return Object.fromEntries((fam ? fam.series : []).map((s) => [s.labels.kind, s.value]));
}

test('hot swaps, ingests and async calls under load: no torn answers, no rejections', async (t) => {
  const started = Date.now();
  const [modelA, modelB] = await Promise.all([
    new Als({ factors: 16, iterations: 4, seed: 1 }).fitAsync(data),
    new Als({ factors: 16, iterations: 4, seed: 2 }).fitAsync(data),
  ]);
  const files = [tmp('a.slm'), tmp('b.slm')];
  const saved = tmp('saved.slm');
  t.after(() => [...files, saved].forEach((f) => fs.rmSync(f, { force: true })));
  const engine = new Engine(config, demo.catalog, { als: modelA });
  engine.ingestBatch(demo.events.slice(-5000), true);
  engine.save(files[0]);
  engine.swapModels({ catalog: demo.catalog, als: modelB });
  engine.save(files[1]);

  // Probe users whose A and B answers differ, with both answers.
  const expected = new Map();
  for (const user of probeUsers) {
    engine.reloadModels(files[0]);
    const a = answer(engine.recommend(probe(user)));
    engine.reloadModels(files[1]);
    const b = answer(engine.recommend(probe(user)));
    if (a !== b) expected.set(user, [a, b]);
    if (expected.size === 8) break;
  }
  assert.equal(expected.size, 8, 'A and B differ for the probes');
  const users = [...expected.keys()];
  engine.reloadModels(files[0]);
  const g0 = engine.stats().modelGeneration;
  assert.equal(typeof g0, 'number');
  const counts0 = eventCounts(engine);
  const sent = {};

  const versionOf = (user, r) => {
    const v = expected.get(user).indexOf(answer(r));
    assert.notEqual(v, -1, `torn answer for ${user}`);
    return v;
  };
  const seen = [0, 0];
  const pending = [];
  let asyncCalls = 0;
  let syncCalls = 0;
  let ingested = 0;
  let deliberate = 0;
  let lastGeneration = g0;

  // A burst in flight on the pool while the loop below swaps.
  for (let k = 0; k < BURST; k += 1) {
    const user = users[k % users.length];
    asyncCalls += 1;
    pending.push(engine.recommendAsync(probe(user)).then((r) => {
      seen[versionOf(user, r)] += 1;
    }));
  }
  for (let i = 0; i < SWAPS; i += 1) {
    const target = (i + 1) % 2; // B first
    // Async probes in flight across the swap: A or B, never a mix.
    for (let k = 0; k < ASYNC_PER_SWAP; k += 1) {
      const user = users[(i + k) % users.length];
      asyncCalls += 1;
      pending.push(engine.recommendAsync(probe(user)).then((r) => {
        seen[versionOf(user, r)] += 1;
      }));
    }
    if (i % 2 === 0) {
      await engine.reloadModelsAsync(files[target]);
    } else {
      engine.swapModels({ catalog: demo.catalog, als: target ? modelB : modelA });
    }
    // Synchronously, right after the swap, exactly the target answers.
    const user = users[i % users.length];
    assert.equal(versionOf(user, engine.recommend(probe(user))), target);
    const json = JSON.parse(engine.recommendJson(probe(users[(i + 1) % users.length])));
    assert.equal(versionOf(users[(i + 1) % users.length], json), target);
    const home = engine.recommend({ placement: 'home', session: `anon-${i}`, now: NOW });
    assert.ok(home.items.length > 0, 'fallbacks never answer nothing');
    syncCalls += 3;
    const generation = engine.stats().modelGeneration;
    assert.equal(generation, g0 + i + 1);
    assert.ok(generation > lastGeneration);
    lastGeneration = generation;
    const batch = events(i, BATCH);
    ingested += engine.ingestBatch(batch, i % 3 !== 0);
    for (const e of batch) sent[e.kind] = (sent[e.kind] ?? 0) + 1;
    if (i % 10 === 0) {
      asyncCalls += 1;
      pending.push(engine.saveAsync(saved));
      // Deliberately bad: they reject with their code and change nothing.
      deliberate += 2;
      pending.push(rejectsCode(engine.recommendAsync({ placement: 'nope' }), 'INVALID_INPUT'));
      pending.push(rejectsCode(engine.reloadModelsAsync(tmp('missing.slm')), 'IO'));
    }
    if (i % 25 === 0) {
      asyncCalls += 1;
      pending.push(new Als({ factors: 4, iterations: 1, seed: i }).fitAsync(data).then((m) => {
        assert.ok(m.recommend(customers[0], 3).length > 0);
      }));
    }
  }
  const results = await Promise.allSettled(pending);
  const rejected = results.filter((r) => r.status === 'rejected');
  assert.deepEqual(rejected.map((r) => String(r.reason)), [], 'no rejected promise');
  assert.equal(engine.stats().modelGeneration, g0 + SWAPS, 'the bad reloads swapped nothing');
  assert.equal(seen[0] + seen[1], BURST + SWAPS * ASYNC_PER_SWAP);
  assert.ok(seen[0] > 0 && seen[1] > 0, 'both versions answered async probes');

  // The last save loads and answers as one of the versions.
  const loaded = await Engine.loadAsync(saved, config);
  for (const user of users) versionOf(user, loaded.recommend(probe(user)));
  // Every ingested event counted, by kind.
  assert.equal(ingested, SWAPS * BATCH);
  const counts = eventCounts(engine);
  for (const [kind, n] of Object.entries(sent)) {
    assert.equal(counts[kind] - (counts0[kind] ?? 0), n, `${kind} events`);
  }
  t.diagnostic(`${SWAPS} swaps, ${asyncCalls} async calls + ${deliberate} deliberate rejections, `
    + `${syncCalls} sync answers, ${ingested} events, probes A/B ${seen}, `
    + `${Date.now() - started} ms`);
});

test('the event loop stays responsive while fitAsync runs', async (t) => {
  const fit = new Als({ factors: 64, iterations: 15, seed: 3 }).fitAsync(data);
  const { value: model, max, ticks } = await loopLag(fit);
  assert.ok(model.recommend(customers[0], 5).length > 0);
  t.diagnostic(`max setImmediate lag ${max.toFixed(2)} ms over ${ticks} ticks during fitAsync`);
  assert.ok(max < MAX_LAG_MS, `event loop blocked for ${max} ms`);
});
