'use strict';
// The Engine of the napi-rs addon on the demo shop: placements, sessions,
// tracking, GDPR, persistence, async twins and coded errors. The ALS model is
// the cross-runtime fixture (trained on the small demo shop, so its ids are
// the catalog's).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Als, CoOccurrence, ContentIndex, Engine, Interactions, Model, demoData, demoEngineConfig } = require('..');
const {
  loadFixture,
  rejectsCode,
  throwsCode,
} = require('../../../tests/cross_runtime/model_contract.js');

const fx = loadFixture();
const model = Model.load(fx.modelPath);
// The data set the fixture model was trained on (DemoConfig::small()).
const demo = demoData({ customers: 2000, products: 400, events: 80000, seed: 42 });
const config = demoEngineConfig();
const catalogIds = new Set(demo.catalog.map((i) => i.id));
/** After the demo year; every request names its time so runs compare. */
const NOW = 1767225600;
const HISTORY = demo.events.slice(-20000);

/** An engine that has learnt the tail of the demo year. */
function freshEngine() {
  const engine = new Engine(config, demo.catalog, { model });
  engine.ingestBatch(HISTORY, true);
  return engine;
}

const engine = freshEngine();
const customer = fx.expected.users[0].user;
const frames = demo.catalog.filter((i) => i.category === 'frames');

const tmp = (name) => path.join(os.tmpdir(), `sightline-engine-${process.pid}-${name}`);
const itemIds = (r) => r.items.map((i) => i.item);
/** A response without its per-call fields (id, latencies). */
const answer = (r) => ({
  items: r.items,
  variant: r.variant,
  fallbackUsed: r.fallbackUsed,
  personalised: r.personalised,
});

test('the demo data has the shapes the engine takes', () => {
  assert.equal(demo.catalog.length, 400);
  assert.equal(demo.customers.length, 2000);
  const item = demo.catalog[0];
  assert.equal(typeof item.id, 'string');
  // Flat rows in the core's column names, attributes as columns of their own.
  assert.equal(typeof item.in_stock, 'boolean');
  assert.equal(typeof item.shape, 'string');
  assert.equal(item.attributes, undefined);
  const e = demo.events[0];
  assert.deepEqual(Object.keys(e).sort(), [
    'channel', 'item', 'kind', 'region', 'session', 'timestamp', 'user',
  ]);
  assert.ok(Number.isInteger(e.timestamp));
  assert.ok('ageBand' in demo.customers[0]);
  assert.ok(config.placements.home, 'demo config names the default placements');
});

test('every default placement returns n items with reasons', () => {
  const placements = Object.keys(engine.config().placements).sort();
  assert.deepEqual(placements, ['cart', 'email', 'home', 'in_store', 'product_page']);
  for (const placement of placements) {
    const r = engine.recommend({
      placement,
      user: customer,
      region: 'uk-london',
      channel: 'web',
      contextItems: [frames[0].id],
      cart: [frames[1].id],
      n: 6,
      consent: true,
      now: NOW,
    });
    assert.equal(r.placement, placement);
    assert.equal(r.items.length, 6, placement);
    assert.equal(typeof r.recommendationId, 'string');
    assert.ok(r.recommendationId.length > 0);
    assert.equal(r.variant, 'default');
    assert.equal(typeof r.fallbackUsed, 'boolean');
    assert.equal(new Set(itemIds(r)).size, 6, `${placement}: distinct items`);
    for (const it of r.items) {
      assert.ok(catalogIds.has(it.item), `${placement}: ${it.item} is in the catalog`);
      assert.ok(Number.isFinite(it.score));
      assert.equal(typeof it.source, 'string');
      assert.ok(it.reason.length > 0, `${placement}: ${it.item} has a reason`);
    }
    for (const s of r.sources) {
      assert.deepEqual(Object.keys(s).sort(), ['candidates', 'latencyUs', 'source', 'status']);
    }
  }
  const home = engine.recommend({ placement: 'home', user: customer, consent: true, now: NOW });
  assert.equal(home.items.length, engine.config().placements.home.n, 'default n');
  assert.ok(home.personalised);
  assert.ok(home.items.some((i) => i.source === 'als'), 'the model serves the customer');

  // recommendJson is the same answer as JSON text (ids and latencies differ per call).
  const same = (r) => ({ ...r, recommendationId: '', sources: r.sources.map((s) => ({ ...s, latencyUs: 0 })) });
  const text = engine.recommendJson({ placement: 'home', user: customer, consent: true, now: NOW });
  assert.equal(typeof text, 'string');
  assert.deepEqual(same(JSON.parse(text)), same(engine.recommend({ placement: 'home', user: customer, consent: true, now: NOW })));
  assert.throws(() => engine.recommendJson({ placement: 'nowhere' }), { code: 'INVALID_INPUT' });
});

test('an anonymous visitor\'s events change their session-based results', () => {
  const e = freshEngine();
  const visitor = `visitor-${process.pid}`;
  const ask = () =>
    e.recommend({ placement: 'home', session: visitor, region: 'uk-london', consent: true, now: NOW });
  const before = ask();
  assert.ok(!before.items.some((i) => i.source === 'session'));
  const browsed = frames.slice(10, 14);
  e.ingestBatch(
    browsed.map((item, k) => ({
      user: visitor,
      item: item.id,
      kind: 'view',
      timestamp: NOW - 60 + k,
      region: 'uk-london',
      channel: 'web',
      session: `${visitor}-s1`,
    })),
    true,
  );
  const after = ask();
  assert.notDeepEqual(itemIds(after), itemIds(before));
  assert.ok(after.items.some((i) => i.source === 'session'), 'a session item is served');
  assert.ok(after.personalised);
  const exported = e.exportUser(visitor);
  assert.deepEqual(
    exported.sessionEvents.map((s) => s.item),
    browsed.map((i) => i.id),
  );

  // Without consent nothing is stored about another visitor.
  const other = `${visitor}-no-consent`;
  e.ingest({ user: other, item: frames[20].id, kind: 'view', timestamp: NOW - 5 }, false);
  assert.deepEqual(e.exportUser(other).sessionEvents, []);
});

test('trackImpression / trackClick show in stats and prometheusText', () => {
  const e = freshEngine();
  const r = e.recommend({ placement: 'product_page', user: customer, contextItems: [frames[3].id], consent: true, now: NOW });
  assert.equal(e.trackImpression(r.recommendationId, NOW + 1), true);
  assert.equal(e.trackClick(r.recommendationId, r.items[1].item, NOW + 2), true);
  assert.equal(e.trackClick('no-such-recommendation', r.items[1].item, NOW + 2), false);
  assert.equal(e.trackClick(r.recommendationId, 'no-such-item', NOW + 2), false);
  assert.equal(typeof e.trackConversion(customer, r.items[1].item, 99.5, NOW + 3), 'boolean');

  const group = e.stats().tracking.find(
    (g) => g.placement === 'product_page' && g.variant === 'default' && g.source === null,
  );
  assert.ok(group, 'a group for the placement');
  assert.equal(group.impressions, 1);
  assert.equal(group.clicks, 1);
  assert.equal(group.clicked, 1);
  assert.equal(group.ctr.value, 1);
  assert.ok(group.ctr.low <= 1 && group.ctr.high >= group.ctr.low);
  const stats = e.stats();
  assert.ok(stats.breakers.trending_now, 'map keys keep their spelling');
  assert.equal(typeof stats.breakers.als.state, 'string');

  e.refreshPopular(NOW + 3);
  assert.equal(e.recommend({ placement: 'home', now: NOW + 3 }).items.length, 10);

  const text = e.prometheusText();
  assert.match(text, /sightline_ctr\{placement="product_page",variant="default"\} 1\b/);
});

test('forgetUser leaves no trace in exportUser or a saved file', () => {
  const e = freshEngine();
  const user = `C-forget-${process.pid}`;
  const item = frames[5].id;
  e.ingest({ user, item, kind: 'view', timestamp: NOW - 30, session: 's-forget' }, true);
  e.ingest({ user, item, kind: 'purchase', timestamp: NOW - 20, session: 's-forget' }, true);
  const r = e.recommend({ placement: 'home', user, consent: true, now: NOW });
  e.trackImpression(r.recommendationId, NOW);
  e.trackClick(r.recommendationId, r.items[0].item, NOW);

  const before = e.exportUser(user);
  assert.equal(before.user, user);
  assert.equal(before.sessionEvents.length, 2);
  assert.equal(before.purchases.length, 1);
  assert.equal(before.attribution.recommendations.length, 1);
  assert.equal(before.attribution.clicks.length, 1);
  assert.ok(e.toBuffer().includes(Buffer.from(user)), 'the saved file held the user');

  const report = e.forgetUser(user);
  assert.deepEqual(Object.keys(report).sort(), [
    'alsFactors', 'attributionRecords', 'purchases', 'session', 'user',
  ]);
  assert.equal(report.session, true);
  assert.equal(report.purchases, 1);
  assert.ok(report.attributionRecords >= 1);

  const after = e.exportUser(user);
  assert.deepEqual(after.sessionEvents, []);
  assert.deepEqual(after.purchases, []);
  assert.deepEqual(after.attribution.recommendations, []);
  assert.deepEqual(after.attribution.clicks, []);
  assert.equal(after.als, null);
  assert.ok(!e.toBuffer().includes(Buffer.from(user)), 'no trace in the saved file');

  // A customer of the model loses their factors too.
  const known = fx.expected.users[1].user;
  assert.notEqual(e.exportUser(known).als, null);
  assert.equal(e.forgetUser(known).alsFactors, true);
  assert.equal(e.exportUser(known).als, null);
});

test('save → load, toBuffer → fromBuffer and their async twins give the same recommendations', async () => {
  const e = freshEngine();
  const visitor = 'visitor-persist';
  e.ingest({ user: visitor, item: frames[7].id, kind: 'view', timestamp: NOW - 10 }, true);
  const requests = [
    { placement: 'home', user: customer, consent: true, now: NOW },
    { placement: 'home', session: visitor, consent: true, now: NOW },
    { placement: 'cart', cart: [frames[2].id], region: 'nl', now: NOW },
  ];
  const expected = requests.map((q) => answer(e.recommend(q)));
  const same = (other, what) =>
    requests.forEach((q, k) => assert.deepEqual(answer(other.recommend(q)), expected[k], `${what}: ${q.placement}`));

  const file = tmp('save.slm');
  try {
    e.save(file);
    same(Engine.load(file, config), 'load');
    same(await Engine.loadAsync(file, config), 'loadAsync');
    const file2 = tmp('save-async.slm');
    await e.saveAsync(file2);
    assert.deepEqual(fs.readFileSync(file2).length > 0, true);
    same(Engine.load(file2, config), 'saveAsync');
    fs.rmSync(file2);
  } finally {
    fs.rmSync(file, { force: true });
  }
  const bytes = e.toBuffer();
  assert.ok(Buffer.isBuffer(bytes));
  same(Engine.fromBuffer(bytes, config), 'fromBuffer');
  same(Engine.fromBuffer(new Uint8Array(bytes), config), 'fromBuffer(Uint8Array)');
});

test('integers beyond 32 bits are integers (JS has one number type)', () => {
  const late = 5000000000; // year 2128
  const r = engine.recommend({ placement: 'home', now: late });
  assert.equal(r.items.length, 10);
  assert.equal(engine.trackImpression(r.recommendationId, late), true);
  throwsCode(() => engine.recommend({ placement: 'home', now: late + 0.5 }), 'INVALID_INPUT');
});

test('recommendAsync gives what recommend gives', async () => {
  for (const placement of ['home', 'product_page', 'cart']) {
    const q = { placement, user: customer, contextItems: [frames[4].id], cart: [frames[4].id], consent: true, now: NOW };
    const p = engine.recommendAsync(q);
    assert.ok(p instanceof Promise);
    const r = await p;
    assert.deepEqual(answer(r), answer(engine.recommend(q)), placement);
    assert.notEqual(r.recommendationId, '');
  }
});

test('fromJson, fromToml, config text or file and an object give the same config', () => {
  const fromObject = new Engine(config, demo.catalog).config();
  assert.deepEqual(Engine.fromJson(JSON.stringify(config), demo.catalog).config(), fromObject);
  // A string config is JSON or TOML text (sniffed by the core) or a file path.
  assert.deepEqual(new Engine(JSON.stringify(config), demo.catalog).config(), fromObject);
  assert.equal(new Engine('[placements.home]\nn = 4\n', demo.catalog).config().placements.home.n, 4);
  const file = tmp('config.toml');
  fs.writeFileSync(file, '[placements.home]\nn = 3\n');
  try {
    assert.equal(new Engine(file, demo.catalog).config().placements.home.n, 3);
  } finally {
    fs.rmSync(file, { force: true });
  }
  const toml = Engine.fromToml('[placements.home]\nn = 4\n', demo.catalog);
  assert.equal(toml.config().placements.home.n, 4);
  assert.equal(toml.recommend({ placement: 'home', now: NOW }).items.length, 4);
  // A default placement named in the config keeps its other settings.
  assert.deepEqual(toml.config().placements.home.sources, new Engine({}, demo.catalog).config().placements.home.sources);
});

test('swapModels serves the new catalog, and a bad one keeps the old', () => {
  const e = freshEngine();
  const small = demo.catalog.filter((i) => i.category !== 'frames');
  e.swapModels({ catalog: small });
  // Rows are typed by the core as Python's dicts are: a numeric id is text.
  const numbered = new Engine({}, [{ id: 7, category: 'lenses', price: 12, in_stock: 1 }]);
  assert.deepEqual(numbered.recommend({ placement: 'home', now: NOW }).items.map((i) => i.item), ['7']);
  const r = e.recommend({ placement: 'home', n: 10, now: NOW });
  assert.equal(r.items.length, 10);
  assert.ok(r.items.every((i) => !i.item.startsWith('FR-')), 'no frame of the old catalog');
  throwsCode(() => e.swapModels({ catalog: [small[0], small[0]] }), 'INVALID_INPUT');
  throwsCode(() => e.swapModels({}), 'INVALID_INPUT');
  throwsCode(() => e.swapModels({ catalog: small, model: 'not a model' }), 'INVALID_INPUT');
  assert.deepEqual(answer(e.recommend({ placement: 'home', n: 10, now: NOW })), answer(r));
});

test('the engine serves Als, CoOccurrence and ContentIndex models given as options or swapped in', () => {
  const small = demoData({ customers: 300, products: 120, events: 6000, seed: 5 });
  const items = small.catalog.map((i) => i.id);
  const data = Interactions.fromEvents(small.events, { items });
  const als = new Als({ factors: 8, iterations: 4, numThreads: 1 }).fit(data);
  const cooccur = CoOccurrence.fit(data);
  const content = ContentIndex.build({ catalog: small.catalog });
  const page = (e) => {
    const r = e.recommend({ placement: 'product_page', contextItems: [items[0]], n: 12, now: NOW });
    return new Set(r.items.map((i) => i.source));
  };
  const bare = new Engine(config, small.catalog);
  const full = new Engine(config, small.catalog, { als, cooccur, content });
  assert.ok(!page(bare).has('content') && !page(bare).has('cooccur'), [...page(bare)].join());
  assert.ok(page(full).has('content') && page(full).has('cooccur'), [...page(full)].join());
  const user = data.userIds[0];
  const home = (e) => e.recommend({ placement: 'home', user, consent: true, now: NOW }).items;
  assert.ok(home(full).some((i) => i.source === 'als'));
  bare.swapModels({ catalog: small.catalog, als, cooccur, content });
  assert.deepEqual(page(bare), page(full));
  assert.ok(home(bare).some((i) => i.source === 'als'));
  throwsCode(() => bare.swapModels({ catalog: small.catalog, cooccur: als }), 'INVALID_INPUT');
  throwsCode(() => new Engine(config, small.catalog, { content: 'index' }), 'INVALID_INPUT');
  assert.ok(page(bare).has('content'), 'a failed swap keeps the models');
});

test('bad inputs throw coded Errors and change nothing', async () => {
  const e = freshEngine();
  const visitor = 'visitor-bad';
  const q = { placement: 'home', session: visitor, user: customer, consent: true, now: NOW };
  const state = () => ({
    answer: answer(e.recommend(q)),
    events: e.stats().metrics.sightline_events_total,
    export: e.exportUser(visitor),
  });
  const start = state();

  const requestCases = [
    [{ placement: 'no-such-placement' }, 'unknown placement'],
    [{ placement: 'home', n: Number.NaN }, 'NaN n'],
    [{ placement: 'home', n: Infinity }, 'infinite n'],
    [{ placement: 'home', n: 2.5 }, 'fractional n'],
    [{ placement: 'home', n: 0 }, 'n = 0'],
    [{ placement: 'home', n: 1001 }, 'n > 1000'],
    [{ placement: 'home', n: '5' }, 'n as a string'],
    [{ placement: 42 }, 'placement as a number'],
    [{ placement: 'home', contextItems: 'FR-00001' }, 'contextItems as a string'],
    [{ placement: 'home', channel: 'fax' }, 'unknown channel'],
    [{ placement: 'home', placment: 'typo' }, 'unknown field'],
    ['home', 'a string'],
    [null, 'null'],
  ];
  for (const [request, what] of requestCases) {
    assert.throws(
      () => e.recommend(request),
      (err) => err instanceof Error && err.code === 'INVALID_INPUT',
      what,
    );
    await rejectsCode(e.recommendAsync(request), 'INVALID_INPUT');
  }

  const good = { user: visitor, item: frames[9].id, kind: 'view', timestamp: NOW - 3 };
  throwsCode(() => e.ingest({ ...good, timestamp: Number.NaN }, true), 'INVALID_INPUT');
  throwsCode(() => e.ingest({ ...good, kind: 42 }, true), 'INVALID_INPUT');
  throwsCode(() => e.ingest({ ...good, user: undefined }, true), 'INVALID_INPUT');
  throwsCode(() => e.ingestBatch({ 0: good }, true), 'INVALID_INPUT');
  // All or nothing: the good events before the bad one are not learnt.
  assert.throws(
    () => e.ingestBatch([good, good, { ...good, timestamp: 'yesterday' }], true),
    (err) => err.code === 'INVALID_INPUT' && /event 2/.test(err.message),
  );
  throwsCode(() => e.trackImpression('r', Number.NaN), 'INVALID_INPUT');
  throwsCode(() => e.trackClick('r', frames[0].id, 1.5), 'INVALID_INPUT');
  throwsCode(() => e.refreshPopular(Number.NaN), 'INVALID_INPUT');

  throwsCode(() => new Engine({ placements: { home: { n: 0 } } }, demo.catalog), 'CONFIG');
  assert.throws(
    () => new Engine({ placements: { home: { deadline_ms: -1 } } }, demo.catalog),
    (err) => err.code === 'CONFIG' && err.message.includes('placements.home.deadline_ms'),
  );
  throwsCode(() => new Engine({ no_such_setting: 1 }, demo.catalog), 'CONFIG');
  // The structured field of a config error is a property of the Error.
  assert.throws(
    () => new Engine({ placements: { home: { n: 'six' } } }, demo.catalog),
    (err) => err.code === 'CONFIG' && err.field === 'placements.home.n' && err.kind === undefined,
  );
  assert.throws(
    () => new Engine('[placements.home]\nn = "six"\n', demo.catalog),
    (err) => err.code === 'CONFIG' && err.field === 'placements.home.n',
  );
  throwsCode(() => Engine.fromJson('{not json', demo.catalog), 'CONFIG');
  throwsCode(() => Engine.fromToml('placements = [', demo.catalog), 'CONFIG');
  throwsCode(() => new Engine({}, 'not a catalog'), 'INVALID_INPUT');
  // Catalog rows follow the core's row rules (Catalog::from_rows, as Python).
  throwsCode(() => new Engine({}, [{ title: 'no id' }]), 'INVALID_INPUT');
  throwsCode(() => new Engine({}, [{ id: 'x', price: 'cheap' }]), 'INVALID_INPUT');
  assert.throws(
    () => new Engine({}, [{ id: 'x' }, { id: 'y', specs: { nested: 1 } }]),
    (err) => err.code === 'INVALID_INPUT' && /catalog item 1/.test(err.message),
  );
  throwsCode(() => new Engine({}, [{ id: 'x', category: 'frames', price: -1 }]), 'INVALID_INPUT');
  throwsCode(() => new Engine({}, demo.catalog, { model: {} }), 'INVALID_INPUT');

  const bytes = e.toBuffer();
  throwsCode(() => Engine.fromBuffer(Buffer.from('not a model file'), config), 'MODEL_FORMAT');
  throwsCode(() => Engine.fromBuffer(bytes.subarray(0, bytes.length >> 1), config), 'MODEL_FORMAT');
  const flipped = Buffer.from(bytes);
  flipped[flipped.length >> 1] ^= 0xff;
  throwsCode(() => Engine.fromBuffer(flipped, config), 'MODEL_FORMAT');
  throwsCode(() => Engine.fromBuffer(bytes, { placements: { home: { n: -3 } } }), 'CONFIG');
  throwsCode(() => Engine.load(tmp('missing.slm'), config), 'IO');
  await rejectsCode(Engine.loadAsync(tmp('missing.slm'), config), 'IO');
  // A rejected promise carries the structured fields as a thrown Error does.
  await assert.rejects(
    Engine.loadAsync(tmp('missing.slm'), { placements: { home: { n: 0 } } }),
    (err) => err instanceof Error && err.code === 'CONFIG' && err.field === 'placements.home.n',
  );
  const corrupt = tmp('corrupt.slm');
  fs.writeFileSync(corrupt, flipped);
  try {
    await rejectsCode(Engine.loadAsync(corrupt, config), 'MODEL_FORMAT');
  } finally {
    fs.rmSync(corrupt);
  }
  await rejectsCode(e.saveAsync(path.join(tmp('no-such-dir'), 'x.slm')), 'IO');

  const end = state();
  assert.deepEqual(end.answer, start.answer);
  assert.deepEqual(end.events, start.events);
  assert.deepEqual(end.export, start.export);
});
