'use strict';
// The bad-input matrix (issue 18) through the Node addon: every case of
// tests/bad_inputs/cases.json that lists `node` throws an Error with its
// `code` within the hang bound (cases run in a worker thread) and leaves the
// fixture's probed outputs unchanged. Shared JS machinery:
// tests/bad_inputs/runner.js; the format: tests/bad_inputs/README.md.
const crypto = require('node:crypto');
const { registerMatrix, decode, text, fileBytes } = require('../../../tests/bad_inputs/runner.js');

function makeFixture() {
  const { demoData, demoEngineConfig, Als, Interactions, Engine, SessionStore } = require('..');
  const demo = demoData({ customers: 300, products: 60, events: 6000, seed: 42 });
  const itemIds = demo.catalog.map((i) => i.id);
  const data = Interactions.fromEvents(demo.events, { items: itemIds });
  const model = new Als({ factors: 8, iterations: 3, numThreads: 1, seed: 0 }).fit(data);
  const engine = new Engine(demoEngineConfig(), demo.catalog, { als: model });
  const recent = demo.events.slice(-500);
  for (const e of recent) engine.ingest(e, true);
  const session = new SessionStore(itemIds);
  for (const e of recent.slice(-200)) session.ingest(e);
  const last = demo.events[demo.events.length - 1];
  const f = {
    catalog: demo.catalog,
    data,
    model,
    engine,
    session,
    user: last.user,
    item: itemIds[1],
    modelItem: itemIds[0],
    now: last.timestamp,
    bases: { model: model.toBuffer(), engine: engine.toBuffer(), slice: engine.exportSlice('home', itemIds.slice(0, 30)) },
    probe() {
      const hash = (b) => crypto.createHash('sha256').update(b).digest('hex');
      const stats = session.stats();
      return [
        model.recommend(f.user, 5),
        hash(model.toBuffer()),
        engine.recommend({ placement: 'home', user: f.user, now: f.now }).items.map((i) => i.item),
        engine.exportUser(f.user),
        stats.keys,
        stats.events,
        session.recent(f.user, f.now),
      ];
    },
  };
  return f;
}

const camel = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_(.)/g, (_, c) => c.toUpperCase()), v]));

function run(op, input, f) {
  const { Als, Interactions, Engine, Model, demoEngineConfig } = require('..');
  const names = { $user: f.user, $item: f.item, $now: f.now };
  switch (op) {
    case 'als.fit': {
      const params = { factors: 4, iterations: 2, numThreads: 1, seed: 0, ...camel(decode(input.params || {}, names)) };
      const data = input.events ? Interactions.fromEvents([]) : f.data;
      return new Als(params).fit(data);
    }
    case 'interactions.build':
      return Interactions.fromEvents(decode(input.events, names).map(([user, item, weight]) => ({ user, item, weight })));
    case 'interactions.columns':
      return Interactions.fromColumns(decode(input, names));
    case 'model.load_bytes':
      return Model.fromBuffer(fileBytes(input.bytes, f.bases));
    case 'engine.load_bytes':
      return Engine.fromBuffer(fileBytes(input.bytes, f.bases), demoEngineConfig());
    case 'model.recommend': {
      const i = decode(input, { ...names, $item: f.modelItem });
      return f.model.recommend(i.user, i.n);
    }
    case 'model.similar_items': {
      const i = decode(input, { ...names, $item: f.modelItem });
      return f.model.similarItems(i.item, i.n);
    }
    case 'engine.from_config_json':
      return Engine.fromJson(text(input.text), f.catalog);
    case 'engine.from_config_toml':
      return Engine.fromToml(text(input.text), f.catalog);
    case 'engine.recommend':
      return f.engine.recommend(camel(decode(input.request, names)));
    case 'engine.ingest':
      return f.engine.ingest(decode(input.event, names), true);
    case 'session.ingest':
      return f.session.ingest(decode(input.event, names));
    case 'catalog.load':
      return new Engine({}, decode(input.items, names));
    default:
      throw new Error(`node runs ${op} but the runner has no handler for it`);
  }
}

registerMatrix({ file: __filename, runtime: 'node', makeFixture, run });
